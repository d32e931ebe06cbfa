"""Pages for the OCR tests: text drawn with the packaged font, and how to compare what is read.

    render(lines, size, pad)    black text on white, one line per item
    turned(image, degrees)      turned counter-clockwise on a canvas that holds it
    ink_box(image)              the box around the dark pixels: where the text was drawn
    similarity(expected, got)   difflib's ratio on lower-cased text
    require_tesseract(*langs)   skip (fail on CI) unless Tesseract and these languages are there

The `ocr_engine` fixture (tests/conftest.py) runs a test once per engine with it.
"""

from __future__ import annotations

import difflib
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixelmill.imaging.fonts import load_font
from pixelmill.imaging.ocr import tesseract

ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."
RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю."
HOW_TO_INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus"


def render(lines: str | list[str], size: int = 32, pad: int = 20) -> np.ndarray:
    """Black text on white, one line per item, with `pad` pixels of white around it."""
    lines = [lines] if isinstance(lines, str) else lines
    font = load_font(None, size)
    ascent, descent = font.getmetrics()
    step = round((ascent + descent) * 1.2)
    width = max(int(font.getlength(line)) for line in lines)
    image = Image.new("L", (width + 2 * pad, step * len(lines) + 2 * pad), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((pad, pad + i * step), line, font=font, fill=0)
    return np.asarray(image).copy()


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """Turned counter-clockwise by `degrees` on a canvas that holds it, white corners."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = round(width * cos + height * sin), round(width * sin + height * cos)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    return cv2.warpAffine(
        image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255)
    )


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, width, height) around the dark pixels: where the text was drawn."""
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((image < 128).astype(np.uint8)))
    return x, y, w, h


def similarity(expected: str, got: str) -> float:
    return difflib.SequenceMatcher(None, expected.lower(), got.lower()).ratio()


def require_tesseract(*languages: str) -> None:
    """Skip (fail on CI) unless the tesseract binary and these languages are installed."""
    if not tesseract.installed():
        reason = "the tesseract binary is not installed"
    else:
        missing = [lang for lang in languages if lang not in tesseract.languages()]
        if not missing:
            return
        reason = f"Tesseract has no {'/'.join(missing)} data"
    message = f"{reason}; install it with: {HOW_TO_INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
