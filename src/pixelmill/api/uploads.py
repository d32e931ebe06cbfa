"""Reading an uploaded image: the checks every surface runs before it keeps or queues one."""

from __future__ import annotations

from fastapi import UploadFile

from pixelmill.config import Settings
from pixelmill.errors import EmptyUpload, InvalidParameter
from pixelmill.imaging import codec


async def read_image(
    upload: UploadFile | None, settings: Settings, fields: str = "image"
) -> tuple[bytes, codec.ImageInfo]:
    """The upload's bytes and header, after the size limit, emptiness and the header check.

    413 over the byte or pixel limit, 422 missing or empty, 415 not an image.
    """
    name = fields.split()[0].strip("`")
    if upload is None:
        raise InvalidParameter(f"an image is required: send it in the field {fields}")
    codec.check_bytes(upload.size or 0, settings.max_upload_bytes, name)
    data = await upload.read()
    if not data:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    return data, codec.sniff(data, max_pixels=settings.max_pixels, name=name)
