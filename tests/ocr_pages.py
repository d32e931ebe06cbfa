"""Pages for the OCR tests: text drawn with the packaged font, and how to compare what is read.

    render(lines, size, pad)    black text on white, one line per item
    turned(image, degrees)      turned counter-clockwise on a canvas that holds it
    lying(image, rotation)      turned a quarter (or half) counter-clockwise: the page that
                                needs `rotation` degrees clockwise to stand upright
    exif_jpeg(shown)            a JPEG stored turned, with EXIF orientation 6: viewers show `shown`
    ink_box(image)              the box around the dark pixels: where the text was drawn
    similarity(expected, got)   difflib's ratio on lower-cased text
    word_errors(expected, got)  how many words of `expected` were not read
    require_tesseract(*langs)   skip (fail on CI) unless Tesseract and these languages are there
    require_osd()               the same for Tesseract's orientation data (tesseract-ocr-osd)

The `ocr_engine` fixture (tests/conftest.py) runs a test once per engine with it.
"""

from __future__ import annotations

import difflib
import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixelmill.imaging.fonts import load_font
from pixelmill.imaging.ocr import tesseract

ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."
RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю."
HOW_TO_INSTALL = (
    "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-osd"
)
# The text of Tesseract's own test page (testing/phototest.tif), one item per printed line; an
# empty item is the blank line between its two paragraphs.
PHOTOTEST = [
    "This is a lot of 12 point text to test the",
    "ocr code and see if it works on all types",
    "of file format.",
    "",
    "The quick brown dog jumped over the",
    "lazy fox. The quick brown dog jumped",
    "over the lazy fox. The quick brown dog",
    "jumped over the lazy fox. The quick",
    "brown dog jumped over the lazy fox.",
]
# cv2.rotate's code for a turn by 90, 180, 270 degrees each way
CLOCKWISE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
COUNTER_CLOCKWISE = {
    90: cv2.ROTATE_90_COUNTERCLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_CLOCKWISE,
}


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


def lying(image: np.ndarray, rotation: int) -> np.ndarray:
    """`image` turned counter-clockwise by `rotation` (0, 90, 180, 270), exactly: the page OCR
    must turn `rotation` degrees clockwise to read."""
    return cv2.rotate(image, COUNTER_CLOCKWISE[rotation]) if rotation else image.copy()


def exif_jpeg(shown: np.ndarray) -> bytes:
    """A JPEG stored turned a quarter to the left, with "turn right to show" in its EXIF (6):
    a viewer, and pixelmill's decoder, show `shown`."""
    stored = Image.fromarray(shown).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, width, height) around the dark pixels: where the text was drawn."""
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((image < 128).astype(np.uint8)))
    return x, y, w, h


def similarity(expected: str, got: str) -> float:
    return difflib.SequenceMatcher(None, expected.lower(), got.lower()).ratio()


def word_errors(expected: str, got: str) -> int:
    """The words of `expected` (lower case, in order) that `got` does not have in place."""
    want, have = expected.lower().split(), got.lower().split()
    matcher = difflib.SequenceMatcher(None, want, have, autojunk=False)
    return len(want) - sum(block.size for block in matcher.get_matching_blocks())


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


def require_osd() -> None:
    """Skip (fail on CI) unless Tesseract's orientation data (osd.traineddata) is installed."""
    require_tesseract()
    if tesseract.has_osd():
        return
    message = f"Tesseract has no orientation data (osd); install it with: {HOW_TO_INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
