"""`POST /api/preview`: a picture of any image a browser can show (imaging/preview.py).

The web UI shows what the user chose or sent (the OCR page's picture under its line boxes)
with it when the browser cannot show the file itself: TIFF, HEIC, AVIF, BMP. Stateless, so
it works behind any balancer: the client sends the file it holds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response

from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.api.uploads import read_image
from pixelmill.imaging import codec, preview

router = APIRouter(tags=["preview"])


@router.post(
    "/api/preview",
    summary="A browser-safe preview of an image",
    response_class=Response,
    responses={
        200: {
            "description": f"The image upright and in sRGB, at most {preview.MAX_SIDE} px on "
            "its long side (never enlarged): PNG for gray images and images of few colours "
            "(scans, screenshots), WebP for photos. `X-Image-Width`/`X-Image-Height` give the "
            "source's upright size, `X-Preview-Width`/`X-Preview-Height` the preview's.",
            "content": {"image/png": {}, "image/webp": {}},
        },
        413: {"description": "The file is over the byte or pixel limit"},
        415: {"description": "The file is not an image"},
        422: {"description": "No file, or an empty one"},
        **CPU_ERRORS,
    },
)
async def make_preview(
    settings: SettingsDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    file: Annotated[
        UploadFile | None, File(description="The image (JPEG, PNG, TIFF, HEIC, ...)")
    ] = None,
) -> Response:
    """Decode the image as every surface does and answer a small PNG or WebP of it."""
    async with pools.admit():
        data, info = await read_image(file, settings, "`file`")
        made = await pools.run(preview.render, data, info, preview.MAX_SIDE, "file")
    metrics.processed(["preview"], 1)
    return Response(made.data, media_type=made.format.media_type, headers=headers(info, made))


def headers(info: codec.ImageInfo, made: preview.Preview) -> dict[str, str]:
    """The sizes a client scales boxes with, and no caching (the answer is of this upload)."""
    return {
        "X-Image-Width": str(info.width),
        "X-Image-Height": str(info.height),
        "X-Preview-Width": str(made.width),
        "X-Preview-Height": str(made.height),
        "Cache-Control": "no-store",
    }
