"""`POST /v1/transform`: any chain of operations on one uploaded image, the result returned."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.errors import InvalidParameter
from pixelmill.execution.pipeline import Limits, run_upload
from pixelmill.imaging import codec, pipeline

router = APIRouter(tags=["transform"])

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


@router.post(
    "/v1/transform",
    summary="Transform one uploaded image",
    response_class=Response,
    responses={
        200: {
            "description": "The result image; a ZIP of `<name>_<i>.<ext>` files when the chain "
            "fans out (split)",
            "content": {
                "image/png": {},
                "image/jpeg": {},
                "image/webp": {},
                "application/zip": {},
            },
        },
        413: {"description": "The file is over the byte or pixel limit"},
        415: {"description": "The file is not a decodable image"},
        422: {"description": "Bad ops, format or quality; a result too large"},
        **CPU_ERRORS,
    },
)
async def transform(
    settings: SettingsDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    file: Annotated[UploadFile, File(description="The image")],
    ops: Annotated[
        str,
        Form(
            description='Operations: a JSON array (`["resize=0.5", {"op": "blur", '
            '"kernel_size": 5}]`) or comma-separated `name=value` items.',
            examples=["resize=0.5,grayscale,blur=5"],
        ),
    ],
    format: Annotated[
        Literal["png", "jpeg", "jpg", "webp"] | None,
        Form(description="Output format (default: the input's; PNG for GIF, BMP, TIFF)"),
    ] = None,
    quality: Annotated[
        int | None, Form(ge=1, le=100, description="JPEG/WebP quality, 1-100 (default 90)")
    ] = None,
) -> Response:
    """Run `ops` on the image and return the result in the chosen format."""
    steps = pipeline.parse(pipeline.parse_text(ops), settings.max_operations)
    codec.check_bytes(file.size or 0, settings.max_upload_bytes, "file")
    limits = Limits.from_settings(settings)
    chosen: Any = "jpeg" if format == "jpg" else format
    async with pools.admit():
        data = await file.read()
        fmt, results = await run_upload(pools, "file", data, steps, limits, chosen, quality)
        if not results:
            raise InvalidParameter("the chain produced no image")
        metrics.processed([step.op.name for step in steps], 1)
        if len(results) == 1:
            return Response(results[0], media_type=MEDIA_TYPES[fmt])
        stem = PurePath(file.filename or "image").stem or "image"
        archive = await pools.run_local(_zip, stem, EXTENSIONS[fmt], results)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(f"{stem}.zip")},
    )


def attachment(name: str) -> str:
    """A Content-Disposition for `name`: an ASCII `filename` for every client, and the name
    itself in RFC 6266's `filename*` (UTF-8, percent-encoded) when it is not plain ASCII."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\;' else "_" for c in name)
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _zip(stem: str, extension: str, results: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # images are compressed
        for i, data in enumerate(results):
            archive.writestr(f"{stem}_{i}{extension}", data)
    return buffer.getvalue()
