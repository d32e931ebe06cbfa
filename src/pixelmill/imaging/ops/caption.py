"""Captions: the text in white on a black band below the image, or over its bottom.

    layout(text, width, font, padding)  -> CaptionLayout: the lines and the band's height
    caption_sizes((w, h), params)        -> [(w, h + band height)]; with overlay [(w, h)]
    caption(image, params)               -> the image with its band

`caption_sizes` (what `plan` uses) and `caption` both take the band's height from `layout`,
so a plan predicts exactly the size `caption` makes. How the text is laid out:

- Line breaks in the text (\\n, \\r\\n, \\r, U+2028, U+2029) are kept, and an empty line is a
  line. Any other run of whitespace between words becomes one space; control characters
  and lone surrogates are dropped. A line of only whitespace is an empty line (so text
  that is only spaces gives a band of one empty line).
- Words are wrapped to the image width less the padding on both sides; a word longer than
  a line is broken between characters (never between a letter and its combining marks), and
  its rest starts the next line. A line's width is the larger of the font's advance and the
  right edge of its ink, so no glyph reaches into the right padding.
- Every line is the font's ascent + descent tall (DejaVu Sans 12 px: 15 px); the band is the
  lines plus `padding` above and below.

The band is pure black; the text is drawn white with anti-aliasing, so text pixels are gray
levels (equal channels). Gray and BGR images keep their channels; the band is opaque, so an
image with alpha is laid over white first and comes back BGR. With `overlay`, the band
replaces the image's bottom rows and the size is kept; a band taller than the image covers
all of it and is cut at the bottom.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field

from pixelmill.imaging import alpha
from pixelmill.imaging.fonts import load_font
from pixelmill.imaging.ops import OpParams, Size

MAX_TEXT_CHARS = 200  # the API's configured limit may be lower, never higher
MIN_FONT_SIZE, MAX_FONT_SIZE = 4, 512
DEFAULT_PADDING = 4
MAX_PADDING = 256
WHITE = 255

_LINE_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029]")
_JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiner: part of the cluster it is in


class CaptionParams(OpParams):
    """Write text on a black band below the image, or over its bottom."""

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description=f"The caption, 1-{MAX_TEXT_CHARS} characters. Wrapped by words to the "
        "image width; a word longer than a line is broken; line breaks are kept.",
    )
    font: str | None = Field(
        None,
        max_length=4096,
        description="A font file's path (.ttf, .otf, .ttc, .otc) or an installed family name "
        "such as `DejaVu Sans`; none: DejaVu Sans if the system has it, else the Noto Sans "
        "that pixelmill installs. An unknown font is refused.",
    )
    size: int = Field(
        12, ge=MIN_FONT_SIZE, le=MAX_FONT_SIZE, description="Font size (em) in pixels."
    )
    overlay: bool = Field(
        False,
        description="Lay the band over the bottom of the image, keeping its size, instead of "
        "adding it below; a band taller than the image covers it and is cut at the bottom.",
    )
    padding: int = Field(
        DEFAULT_PADDING,
        ge=0,
        le=MAX_PADDING,
        description="Black margin in pixels between the text and every side of the band.",
    )


@dataclass(frozen=True)
class CaptionLayout:
    """The lines of a caption as they are drawn, top to bottom, and the band's geometry."""

    lines: tuple[str, ...]
    line_height: int
    padding: int

    @property
    def band_height(self) -> int:
        return len(self.lines) * self.line_height + 2 * self.padding


def layout(text: str, width: int, font: ImageFont.FreeTypeFont, padding: int) -> CaptionLayout:
    """The lines `text` makes on an image `width` pixels wide, and the band they need."""
    room = max(1, width - 2 * padding)
    lines: list[str] = []
    for paragraph in _LINE_BREAK.split(_printable(text)):
        lines.extend(_wrap(paragraph.split(), room, font) or [""])
    ascent, descent = font.getmetrics()
    return CaptionLayout(tuple(lines), ascent + descent, padding)


def line_width(line: str, font: ImageFont.FreeTypeFont) -> float:
    """Pixels `line` takes: its advance, or its ink's right edge when that reaches further."""
    return max(font.getlength(line), font.getbbox(line)[2])


def caption_sizes(size: Size, params: CaptionParams) -> list[Size]:
    """The size `caption` makes from an image of `size`; an unknown font is refused here."""
    width, height = size
    font = load_font(params.font, params.size)
    if params.overlay:
        return [size]
    return [(width, height + layout(params.text, width, font, params.padding).band_height)]


def caption(image: np.ndarray, params: CaptionParams) -> np.ndarray:
    """A new array: `image` with the band below it (or over its bottom); gray stays gray,
    colour with or without alpha gives BGR (the image laid over white)."""
    font = load_font(params.font, params.size)
    image = alpha.flatten(image)
    height, width = image.shape[:2]
    plan = layout(params.text, width, font, params.padding)
    band = _channels_like(draw_band(plan, width, font), image)
    if not params.overlay:
        return np.concatenate([image, band])
    out = image.copy()
    rows = min(plan.band_height, height)
    out[height - rows :] = band[:rows]
    return out


def draw_band(plan: CaptionLayout, width: int, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """The band as one gray channel: black, with the lines in white."""
    band = Image.new("L", (width, plan.band_height), 0)
    draw = ImageDraw.Draw(band)
    for index, line in enumerate(plan.lines):
        if line:
            top = plan.padding + index * plan.line_height
            draw.text((plan.padding, top), line, fill=WHITE, font=font, anchor="la")
    return np.asarray(band)


def _channels_like(band: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The gray band with as many channels as `image` (gray or BGR)."""
    if image.ndim == 2:
        return band
    return np.repeat(band[..., None], image.shape[2], axis=2)


def _wrap(words: list[str], room: int, font: ImageFont.FreeTypeFont) -> list[str]:
    """Greedy word wrap; a word wider than `room` is broken and its rest starts a line."""
    lines: list[str] = []
    line = ""
    for word in words:
        joined = f"{line} {word}" if line else word
        if line_width(joined, font) <= room:
            line = joined
            continue
        if line:
            lines.append(line)
        if line_width(word, font) <= room:
            line = word
            continue
        *full, line = _break(word, room, font)
        lines.extend(full)
    if line:
        lines.append(line)
    return lines


def _break(word: str, room: int, font: ImageFont.FreeTypeFont) -> list[str]:
    """`word` cut into pieces that fit `room`; a cluster wider than `room` is a piece alone."""
    pieces: list[str] = []
    piece = ""
    for cluster in _clusters(word):
        if piece and line_width(piece + cluster, font) > room:
            pieces.append(piece)
            piece = ""
        piece += cluster
    return [*pieces, piece]


def _clusters(word: str) -> list[str]:
    """Characters with their combining marks and joiners: the places a word may be broken."""
    clusters: list[str] = []
    for char in word:
        attached = unicodedata.category(char) in ("Mn", "Mc", "Me") or char in _JOINERS
        if clusters and (attached or clusters[-1][-1] in _JOINERS):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _printable(text: str) -> str:
    """`text` without the control characters and lone surrogates a font would draw as boxes."""
    return "".join(
        char for char in text if char.isspace() or unicodedata.category(char) not in ("Cc", "Cs")
    )
