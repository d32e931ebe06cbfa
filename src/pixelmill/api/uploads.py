"""Reading an uploaded image: the checks every surface runs before it keeps or queues one."""

from __future__ import annotations

import asyncio
import unicodedata

from fastapi import UploadFile

from pixelmill.config import Settings
from pixelmill.errors import EmptyUpload, InvalidParameter
from pixelmill.imaging import codec
from pixelmill.storage.models import FILENAME_CHARS


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
    # off the event loop: reading a header may mean an ICC profile or a GIF's frame headers
    info = await asyncio.to_thread(codec.sniff, data, max_pixels=settings.max_pixels, name=name)
    return data, info


def is_control(char: str) -> bool:
    """C0 and C1 controls and DEL, but for tab and line breaks, which wrap like spaces.

    PostgreSQL cannot store NUL, and bytes that are not UTF-8 reach us read as Latin-1
    (Starlette's fallback for form fields), where most of them are C1 controls.
    """
    return unicodedata.category(char) == "Cc" and char not in "\t\n\r"


def client_filename(upload: UploadFile | None) -> str | None:
    """The name the client gave the file, as a label: its last path part, without control
    characters, at most FILENAME_CHARS long; None when nothing is left."""
    if upload is None or not upload.filename:
        return None
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cc")
    return name[:FILENAME_CHARS] or None
