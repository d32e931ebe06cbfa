"""`POST /ocr`: the text of an uploaded image, as JSON or, for a browser's form, as a page.

The order: the engine and the language are checked first (a bad `lang` costs nothing), then
the upload (size, emptiness, header, a side longer than OCR reads), then it is kept in the tmp
folder (with the retention limit applied) and read in a worker process. A client whose
`Accept` header ranks text/html above application/json (a browser submitting the web form
without JavaScript) gets the web UI's result page (web/templates/ocr_result.html); every
other client, and every error, gets JSON. The page shows the image (a browser-safe preview,
imaging/preview.py, inline) with each line's box over it. A page turned a quarter, a half or
three quarters is read upright (imaging/ocr/orientation.py); `rotation` says how it was
turned, and the boxes stay in the upload's pixels.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from pixelmill.api import negotiation
from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.api.routes.ui import CONTENT_SECURITY_POLICY
from pixelmill.api.uploads import read_image
from pixelmill.imaging import preview
from pixelmill.imaging.ocr import (
    MAX_SIDE,
    Recognition,
    check_size,
    engines,
    recognize_upload,
)
from pixelmill.storage import tmp
from pixelmill.web import templates

router = APIRouter(tags=["ocr"])


class OcrLine(BaseModel):
    text: str = Field(examples=["The quick brown fox jumps over the lazy dog."])
    confidence: float = Field(ge=0, le=1, description="0-1: the engine's confidence.")
    box: list[int] = Field(
        min_length=4,
        max_length=4,
        description="[x, y, width, height] in pixels of the uploaded image, upright by its "
        "EXIF orientation, as it was sent: on a page read turned (`rotation`), the box of the "
        "line where it lies in the upload.",
        examples=[[20, 18, 1052, 44]],
    )


class OcrResult(BaseModel):
    filename: str | None = Field(examples=["letter.png"])
    width: int = Field(description="Upright width, in pixels.", examples=[1100])
    height: int = Field(description="Upright height, in pixels.", examples=[80])
    format: str = Field(description="The image's format, lower case.", examples=["png"])
    text: str = Field(
        description="The lines, one per line of text; an empty line ends a paragraph.",
        examples=["The quick brown fox jumps over the lazy dog."],
    )
    lines: list[OcrLine]
    engine: str = Field(
        description="The engine and its version.", examples=["tesseract 5.3.0", "rapidocr 3.10.0"]
    )
    rotation: Literal[0, 90, 180, 270] = Field(
        description="The quarter turn, in degrees clockwise, that made the page upright before "
        "it was read: 0 for an upright page; 90 for a page turned a quarter counter-clockwise "
        "(its top on the left, its lines reading upwards); 180 for one upside down; 270 for "
        "one turned a quarter clockwise (its top on the right, its lines reading downwards). "
        "Found from the text itself, after the EXIF orientation is applied.",
        examples=[0, 180],
    )
    deskew_degrees: float = Field(
        description="The text's tilt that was straightened before reading (after `rotation`), "
        "counter-clockwise positive (0: none).",
        examples=[0.0],
    )
    elapsed_ms: float = Field(description="Time spent on the request, in ms.", examples=[412.5])


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The text: JSON, or an HTML page when `Accept` prefers text/html",
        "content": {"text/html": {}},
    },
    413: {
        "description": "The file is over the byte or pixel limit, or a side is longer than "
        f"OCR reads ({MAX_SIDE} pixels)"
    },
    415: {"description": "The file is not an image"},
    422: {"description": "No file, an empty one, or a language that is not installed"},
    **CPU_ERRORS,
    503: {
        "description": "The OCR engine is not installed, the worker pool is down, or the work "
        "took longer than the processing timeout"
    },
}


@router.post(
    "/ocr", summary="Read the text in an image", response_model=OcrResult, responses=_RESPONSES
)
async def ocr(
    request: Request,
    settings: SettingsDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    file: Annotated[UploadFile | None, File(description="The image (JPEG, PNG, ...)")] = None,
    lang: Annotated[
        str | None,
        Form(
            description="Language(s), Tesseract's names joined by '+' (default: the "
            "`ocr_lang` setting, eng)",
            examples=["eng", "rus", "eng+rus"],
        ),
    ] = None,
) -> Any:
    """Find the lines of text in the image and read them."""
    started = time.perf_counter()
    engine = await asyncio.to_thread(engines.choose, settings.ocr_engine)
    wanted = await asyncio.to_thread(engines.check_lang, engine, lang or settings.ocr_lang)
    async with pools.admit():
        data, info = await read_image(file, settings, "`file`")
        check_size(info.width, info.height)
        filename = file.filename if file is not None else None
        await pools.run_local(
            tmp.keep_upload,
            settings.tmp_path,
            data,
            filename,
            info.format,
            settings.tmp_max_files,
            settings.tmp_max_age_seconds,
        )
        found: Recognition = await pools.run(
            recognize_upload, data, info, engine, wanted, pools.threads, "file"
        )
        page = prefers_html(request.headers.get("accept"))
        # the page shows the picture under the boxes: a browser-safe preview, inline
        shown = await pools.run(preview.render, data, info) if page else None
    metrics.processed(["ocr"], 1)
    result = OcrResult(
        filename=filename,
        width=info.width,
        height=info.height,
        format=info.format.lower(),
        text=found.text,
        lines=[
            OcrLine(text=line.text, confidence=line.confidence, box=list(line.box))
            for line in found.lines
        ],
        engine=found.engine,
        rotation=found.rotation,
        deskew_degrees=found.deskew_degrees,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    if shown is not None:
        return result_page(request, result, shown)
    return result


def result_page(request: Request, result: OcrResult, shown: preview.Preview) -> HTMLResponse:
    """The result as a page of the web UI (web/templates/ocr_result.html), values escaped,
    with the picture (a data: URL, as the page's policy allows) and the boxes over it."""
    picture = f"data:{shown.format.media_type};base64,{base64.b64encode(shown.data).decode()}"
    response = templates().TemplateResponse(
        request, "ocr_result.html", {"page": "ocr", "result": result, "picture": picture}
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def prefers_html(accept: str | None) -> bool:
    """Whether an Accept header ranks text/html strictly above application/json."""
    return negotiation.preferred(accept, ("application/json", "text/html")) == "text/html"
