"""Preparing a page for an OCR engine, and mapping the engine's boxes back to the upload.

    to_gray(image)            -> one channel (BT.601 luma)
    estimate_skew(gray)       -> the text's tilt in degrees, counter-clockwise positive
    text_height(gray)         -> median height of the glyphs, in pixels (None: no text)
    flatten(gray, height)     -> even lighting: the page divided by its background
    upscale_factor(height)    -> how much to enlarge small text (1.0: leave it)
    binarize(gray)            -> black text on white, Otsu's threshold
    ink(gray)                 -> 255 where the text is (binarize, turned over)
    tighten(box, ink)         -> the box shrunk to the ink inside it
    quarter_turn(w, h, r)     -> the affine matrix of a clockwise turn by 0, 90, 180 or 270°
    prepare(image, ...)       -> Prepared: the image the engine reads and the affine matrix
                                 from the upload's pixels to it; `to_original` maps a box back

The order: gray; turned upright by a quarter turn if asked (`rotation`, found by
orientation.py); light text on a dark page turned over; lighting flattened; skew measured;
deskew and upscale as one affine warp (one cubic interpolation) on a canvas grown so that no
corner of a tilted page is cut, the new corners the paper's level; binarization if asked. The
quarter turn is exact (no interpolation) and is part of the matrix, so boxes map back to the
upload as it came, turned or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height

MAX_SKEW_DEGREES = 10.0
MIN_SKEW_DEGREES = 0.2  # below this a rotation blurs more than it straightens
# Glyph heights are medians over all glyphs, between the x-height and the cap height: a
# 12-px font gives 7-8 px. Tesseract lost characters below ~7 px (fonts of 10 px and less)
# and read everything once such text was enlarged 2-3 times (bench/ocr.py, tests).
SMALL_TEXT_PX = 10.0
TARGET_TEXT_PX = 20.0
MAX_UPSCALE = 3.0
MAX_PREPARED_PIXELS = 60_000_000
# The longest side OCR takes and prepares: Tesseract refuses a longer one ("Image too large"),
# so a page is never enlarged past it either.
MAX_SIDE = 32767
# OpenCV's warp refuses a source of SHRT_MAX (32767) pixels a side or more: a page that long
# is a strip, read without deskewing.
_MAX_WARP_SIDE = 32766
_ANALYSIS_SIDE = 1600  # skew and text height are measured on a copy at most this long
_MAX_INK_POINTS = 200_000
ROTATIONS = (0, 90, 180, 270)
ROTATE_CODES = {  # cv2.rotate's code for each clockwise turn
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """The image an engine reads, and how it relates to the upload.

    `matrix` is the 2x3 affine transform from upload pixels to `image` pixels; `rotation` the
    clockwise quarter turn (0, 90, 180, 270) it starts with, `skew_degrees` the tilt
    straightened after it.
    """

    image: np.ndarray
    matrix: np.ndarray
    skew_degrees: float
    scale: float
    original_size: tuple[int, int]  # width, height
    rotation: int = 0

    def to_original(self, box: Box) -> Box:
        """A box in `image` pixels -> the box around it in upload pixels, clipped to the upload."""
        x, y, w, h = box
        corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64)
        inverse = cv2.invertAffineTransform(self.matrix)
        mapped = corners @ inverse[:, :2].T + inverse[:, 2]
        width, height = self.original_size
        x0, y0 = np.floor(mapped.min(axis=0))
        x1, y1 = np.ceil(mapped.max(axis=0))
        x0, x1 = min(max(x0, 0), width), min(max(x1, 0), width)
        y0, y1 = min(max(y0, 0), height), min(max(y1, 0), height)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def to_gray(image: np.ndarray) -> np.ndarray:
    """One channel: gray stays, BGR and BGRA become BT.601 luma (alpha is ignored)."""
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def estimate_skew(gray: np.ndarray, max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """The tilt of the text lines, in degrees, counter-clockwise positive (0.0: none found).

    Projection profiles: the ink's row histogram is sharpest (largest sum of squares) when
    the rows follow the lines. Searched over ±`max_degrees` in 0.5° steps, then 0.05° steps
    around the best, on at most 200,000 ink pixels of a copy at most 1,600 px long.
    """
    small, _ = _shrunk(gray)
    mask = ink(small)
    ys, xs = np.nonzero(mask)
    if len(ys) < 20:
        return 0.0
    if len(ys) > _MAX_INK_POINTS:
        pick = np.random.default_rng(0).choice(len(ys), _MAX_INK_POINTS, replace=False)
        ys, xs = ys[pick], xs[pick]
    height, width = small.shape
    y = ys.astype(np.float64) - height / 2
    x = xs.astype(np.float64) - width / 2
    offset = math.hypot(width, height) / 2 + 2

    def sharpness(degrees: float) -> float:
        # Row of each ink pixel once the image is turned by -degrees (clockwise).
        radians = math.radians(degrees)
        rows = y * math.cos(radians) + x * math.sin(radians) + offset
        counts = np.bincount(rows.astype(np.int64))
        return float(np.dot(counts, counts))

    coarse = np.arange(-max_degrees, max_degrees + 1e-9, 0.5)
    best = max(coarse, key=sharpness)
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    best = max(fine, key=sharpness)
    return round(float(best), 2)


def text_height(gray: np.ndarray) -> float | None:
    """Median height of the glyphs (connected dark blobs), in upload pixels; None if none."""
    small, factor = _shrunk(gray)
    mask = ink(small)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Specks and rules (long thin lines, frames) are not glyphs.
    glyphs = (areas >= 3) & (heights >= 2) & (widths <= 4 * heights) & (heights < small.shape[0])
    if count <= 1 or not glyphs.any():
        return None
    return float(np.median(heights[glyphs])) / factor


def flatten(gray: np.ndarray, height: float) -> np.ndarray:
    """Even out the lighting: divide by the background, the page with its glyphs closed over.

    Shadows and gradients go; a page evenly lit comes out the same up to its paper level.
    The background is found on a copy at most 1,600 px long (it is smooth) and enlarged.
    """
    small, factor = _shrunk(gray)
    side = max(3, round(3 * height * factor)) | 1  # wider than any glyph: glyphs vanish
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    if factor != 1.0:
        size = (gray.shape[1], gray.shape[0])
        background = cv2.resize(background, size, interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(background, 1), scale=255)


def upscale_factor(height: float | None, pixels: int, longest: int = 1) -> float:
    """How much to enlarge text of glyph height `height` so an engine reads it well.

    Glyphs under 10 px are brought to about 20 px, at most ×3, never past 60 MP in all nor
    past MAX_SIDE on the `longest` side.
    """
    if height is None or height >= SMALL_TEXT_PX:
        return 1.0
    factor = min(MAX_UPSCALE, TARGET_TEXT_PX / max(height, 1.0))
    factor = min(factor, math.sqrt(MAX_PREPARED_PIXELS / max(pixels, 1)))
    factor = min(factor, math.floor(MAX_SIDE / max(longest, 1) * 100) / 100)
    return round(factor, 2) if factor >= 1.25 else 1.0


def binarize(gray: np.ndarray) -> np.ndarray:
    """Black text on white by Otsu's threshold (light text on dark is turned over)."""
    return cv2.bitwise_not(ink(gray))


def tighten(box: Box, ink_mask: np.ndarray) -> Box:
    """`box` shrunk to the ink inside it (unchanged if it holds none)."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(ink_mask.shape[1], x + w), min(ink_mask.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return box
    points = cv2.findNonZero(ink_mask[y0:y1, x0:x1])
    if points is None:
        return box
    ix, iy, iw, ih = cv2.boundingRect(points)
    return x0 + ix, y0 + iy, iw, ih


def quarter_turn(width: int, height: int, rotation: int) -> np.ndarray:
    """The matrix from a width×height image to it turned clockwise by `rotation`, as cv2.rotate."""
    matrix = {
        0: [[1, 0, 0], [0, 1, 0]],
        90: [[0, -1, height], [1, 0, 0]],
        180: [[-1, 0, width], [0, -1, height]],
        270: [[0, 1, 0], [-1, 0, width]],
    }.get(rotation)
    if matrix is None:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation!r}")
    return np.array(matrix, np.float64)


def prepare(
    image: np.ndarray,
    *,
    rotation: int = 0,
    even_light: bool = True,
    deskew: bool = True,
    upscale: bool = True,
    threshold: bool = False,
) -> Prepared:
    """Turned by `rotation` (clockwise), gray, evenly lit, straightened, small text enlarged,
    optionally binarized.

    Never writes into `image`.
    """
    gray = to_gray(image)
    upload = (gray.shape[1], gray.shape[0])
    turn = quarter_turn(*upload, rotation)
    if rotation:
        gray = cv2.rotate(gray, ROTATE_CODES[rotation])
    height, width = gray.shape
    if np.median(_shrunk(gray)[0]) < 128:  # light text on a dark page
        gray = cv2.bitwise_not(gray)
    glyphs = text_height(gray)
    if even_light and glyphs is not None:
        gray = flatten(gray, glyphs)
    skew = estimate_skew(gray) if deskew else 0.0
    if abs(skew) < MIN_SKEW_DEGREES:
        skew = 0.0
    scale = upscale_factor(glyphs, width * height, max(width, height)) if upscale else 1.0
    matrix, size = _warp(width, height, skew, scale)
    if skew and max(width, height, *size) > _MAX_WARP_SIDE:
        skew = 0.0
        matrix, size = _warp(width, height, skew, scale)
    if skew:
        paper = int(np.median(_shrunk(gray)[0]))
        out = cv2.warpAffine(
            gray,
            matrix,
            size,
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=paper,
        )
    elif scale != 1.0:
        out = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    else:
        out = gray.copy()
    if threshold:
        out = binarize(out)
    return Prepared(out, _then(turn, matrix), skew, scale, upload, rotation)


def _then(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The 2x3 affine matrix doing `first`, then `second`."""
    return np.hstack([second[:, :2] @ first[:, :2], second[:, :2] @ first[:, 2:] + second[:, 2:]])


def _warp(width: int, height: int, skew: float, scale: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Matrix turning the page by -skew on a canvas that holds it whole, then scaling."""
    matrix: np.ndarray
    if not skew:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        matrix = np.array([[size[0] / width, 0, 0], [0, size[1] / height, 0]], np.float64)
        return matrix, size
    radians = math.radians(skew)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    turned_w, turned_h = width * cos + height * sin, width * sin + height * cos
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -skew, 1.0)
    matrix[0, 2] += turned_w / 2 - width / 2
    matrix[1, 2] += turned_h / 2 - height / 2
    size = (max(1, math.ceil(turned_w * scale)), max(1, math.ceil(turned_h * scale)))
    return matrix * scale, size


def _shrunk(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """A copy at most _ANALYSIS_SIDE long (area averaging), and its scale."""
    longest = max(gray.shape)
    if longest <= _ANALYSIS_SIDE:
        return gray, 1.0
    factor = _ANALYSIS_SIDE / longest
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), factor


def ink(gray: np.ndarray) -> np.ndarray:
    """255 where the text is: the darker class by Otsu, or the lighter one if it is the smaller."""
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if cv2.countNonZero(ink) > ink.size // 2:
        ink = cv2.bitwise_not(ink)
    return ink
