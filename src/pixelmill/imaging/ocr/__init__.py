"""OCR: the text of an image, by line, with boxes in the upload's pixels.

    recognize(image, engine, lang)         an array -> Recognition
    recognize_upload(data, info, ...)      encoded bytes -> Recognition (a worker process runs it)
    check_size(width, height)              TooLarge past MAX_SIDE (32767) pixels a side

Odd geometry is read, not refused: a 1×1 or blank image gives no lines, a 40,000×20 strip
whatever the engine sees in it; only a side past 32,767 pixels is a 413, on either engine
(Tesseract reads no longer side; RapidOCR would see nothing in it at the 2,000 px it reads).

    orientation.py  a page turned 90, 180 or 270° found and read upright (OSD or probing)
    preprocess.py   gray, quarter turn, deskew, upscale of small text; boxes mapped back
    engines.py      choosing the engine (settings.ocr_engine), its languages, `lang` checks
    tesseract.py    Tesseract through pytesseract, when its binary is installed
    rapid.py        RapidOCR, whose models ship inside its wheel: the fallback, offline
    result.py       Line and Recognition

Neither engine downloads anything: Tesseract's language data comes from the system's
packages, RapidOCR's models from its wheel.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pixelmill.errors import TooLarge
from pixelmill.imaging import codec
from pixelmill.imaging.ocr import engines, orientation
from pixelmill.imaging.ocr.engines import Engine
from pixelmill.imaging.ocr.preprocess import MAX_SIDE
from pixelmill.imaging.ocr.result import Line, Recognition

__all__ = ["MAX_SIDE", "Engine", "Line", "Recognition", "recognize", "recognize_upload"]


def recognize(
    image: np.ndarray, engine: Engine, lang: tuple[str, ...] = ("eng",), threads: int = 1
) -> Recognition:
    """Read the text of `image` (gray, BGR or BGRA), upright or turned a quarter, a half or
    three quarters; `lang` must be checked already. Boxes are in `image`'s pixels."""
    check_size(image.shape[1], image.shape[0])
    reading = orientation.read_upright(image, engine, lang, threads)
    prepared = reading.prepared
    lines = tuple(
        dataclasses.replace(line, box=prepared.to_original(line.box), confidence=_unit(line))
        for line in reading.lines
    )
    return Recognition(
        text=page_text(lines),
        lines=lines,
        engine=engines.label(engine),
        deskew_degrees=prepared.skew_degrees,
        scale=prepared.scale,
        rotation=prepared.rotation,
    )


def recognize_upload(
    data: bytes,
    info: codec.ImageInfo,
    engine: Engine,
    lang: tuple[str, ...],
    threads: int = 1,
    name: str = "file",
) -> Recognition:
    """Decode an upload (upright by its EXIF orientation: the page OCR then turns, if it is
    turned, is the one a viewer shows) and read its text; boxes in that upright view."""
    return recognize(codec.decode(data, info, "gray", name), engine, lang, threads)


def check_size(width: int, height: int) -> None:
    """TooLarge (413) for a side past MAX_SIDE, whichever the engine, saying what to do."""
    if max(width, height) > MAX_SIDE:
        raise TooLarge(
            f"the image is {width}×{height} pixels; OCR reads images up to {MAX_SIDE} pixels "
            "a side (Tesseract's limit): cut it into pieces or scale it down"
        )


def page_text(lines: tuple[Line, ...]) -> str:
    """Lines joined by newlines, with an empty line after each paragraph."""
    parts: list[str] = []
    for line in lines:
        parts.append(line.text)
        if line.paragraph_end:
            parts.append("")
    return "\n".join(parts).strip("\n")


def _unit(line: Line) -> float:
    return round(min(1.0, max(0.0, line.confidence)), 4)
