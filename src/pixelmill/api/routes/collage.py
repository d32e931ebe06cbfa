"""`POST /process`: the collage surface."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from pixelmill.api import negotiation
from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.errors import InvalidParameter
from pixelmill.execution.collage import Upload, make_collage
from pixelmill.execution.pipeline import Limits
from pixelmill.imaging import codec
from pixelmill.imaging.ops.collage import CollageRequest
from pixelmill.imaging.pipeline import params_error
from pixelmill.storage.files import write_atomically

router = APIRouter(tags=["collage"])
# The collage is a PNG either way; a client that ranks octet-stream above PNG gets it labelled so.
MEDIA_TYPES = ("image/png", "application/octet-stream")

_FIELDS = CollageRequest.model_fields
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "A file, the request or an image's pixel count is over its limit"},
    415: {"description": "A file is not a decodable image"},
    422: {"description": "A parameter is out of range, or an image is missing or empty"},
    **CPU_ERRORS,
}


def _describe(name: str) -> str:
    return _FIELDS[name].description or ""


@router.post(
    "/process",
    summary="Collage of two or more images",
    response_class=Response,
    responses={
        200: {
            "description": "The collage as PNG (also written to `<results dir>/final_collage.png`)",
            "content": {"image/png": {}, "application/octet-stream": {}},
        },
        **_ERRORS,
    },
)
async def process(
    request: Request,
    settings: SettingsDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    image1: Annotated[
        UploadFile, File(description="First image (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF)")
    ],
    image2: Annotated[UploadFile, File(description="Second image")],
    images: Annotated[
        list[UploadFile] | None, File(description="More images, up to 16 in all")
    ] = None,
    kernel_size: Annotated[int, Form(description=_describe("kernel_size"), examples=[5])] = 5,
    segment_size: Annotated[int, Form(description=_describe("segment_size"), examples=[50])] = 50,
    brightness_threshold: Annotated[
        float, Form(description=_describe("brightness_threshold"), examples=[100])
    ] = 100,
    frame_thickness: Annotated[
        int, Form(description=_describe("frame_thickness"), examples=[2])
    ] = 2,
) -> Response:
    """Grayscale, blur and grid each image in its own worker process; lay them out in a grid.

    Segments whose mean brightness is strictly above `brightness_threshold` get a red frame.
    The collage has ceil(sqrt(n)) columns; two W×H images give a 2W×H collage.
    """
    try:
        params = CollageRequest(
            kernel_size=kernel_size,
            segment_size=segment_size,
            brightness_threshold=brightness_threshold,
            frame_thickness=frame_thickness,
        )
    except ValidationError as exc:
        raise params_error(exc, "invalid form field") from None
    files = [("image1", image1), ("image2", image2)]
    files += [(f"images[{i}]", f) for i, f in enumerate(images or [])]
    if len(files) > settings.max_collage_images:
        raise InvalidParameter(
            f"too many images: {len(files)} (the limit is {settings.max_collage_images})"
        )
    for name, upload in files:
        codec.check_bytes(upload.size or 0, settings.max_upload_bytes, name)
    async with pools.admit():
        uploads = [Upload(name, await upload.read()) for name, upload in files]
        png = await make_collage(
            pools,
            uploads,
            params,
            Limits.from_settings(settings),
        )
        await pools.run_local(write_atomically, settings.results_dir / "final_collage.png", png)
    metrics.processed(["collage"], len(uploads))
    media_type = negotiation.preferred(request.headers.get("accept"), MEDIA_TYPES)
    return Response(png, media_type=media_type)
