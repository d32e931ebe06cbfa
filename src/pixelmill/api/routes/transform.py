"""`POST /v1/transform`: any chain of operations on one uploaded image, the result returned."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.execution.pipeline import Limits, run_upload
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops import output

router = APIRouter(tags=["transform"])


@router.post(
    "/v1/transform",
    summary="Transform one uploaded image",
    response_class=Response,
    responses={
        200: {
            "description": "The result image; a ZIP of `<name>_<i>.<ext>` files when the chain "
            "fans out (split)",
            "content": {
                **{fmt.media_type: {} for fmt in codec.FORMATS.values()},
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
    request: Request,
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
        str | None,
        Form(
            description=f"Output format: {', '.join(codec.format_names())}, in any case "
            "(default: a `format=` step of the chain, else the input's; PNG for BMP, TIFF, HEIC)"
            "; `auto`: AVIF when the request's Accept names image/avif, else WebP when it names "
            "image/webp, else JPEG (PNG with alpha), answered with `Vary: Accept`",
            examples=["webp"],
        ),
    ] = None,
    quality: Annotated[
        int | None,
        Form(
            ge=1,
            le=100,
            description="JPEG, WebP and AVIF quality, 1-100 (default: a `quality=` step of the "
            f"chain, else {codec.DEFAULT_QUALITY})",
        ),
    ] = None,
) -> Response:
    """Run `ops` on the image and return the result in the chosen format."""
    steps = pipeline.parse(pipeline.parse_text(ops), settings.max_operations)
    if format is not None and format.strip().lower() != output.AUTO:
        codec.output_format(format)  # a bad name is a 422 before the upload is read
    codec.check_bytes(file.size or 0, settings.max_upload_bytes, "file")
    limits = Limits.from_settings(settings)
    async with pools.admit(request.is_disconnected):
        data = await file.read()
        accept = request.headers.get("accept")
        out, results = await run_upload(pools, "file", data, steps, limits, format, quality, accept)
        metrics.processed([step.op.name for step in steps], 1)
        vary = {"Vary": "Accept"} if out.negotiated else {}
        if len(results) == 1:
            return Response(results[0], media_type=out.format.media_type, headers=vary)
        stem = PurePath(file.filename or "image").stem or "image"
        archive = await pools.run_local(_zip, stem, out.format.extension, results)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(f"{stem}.zip"), **vary},
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
