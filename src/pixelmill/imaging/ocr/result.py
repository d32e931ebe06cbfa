"""What OCR returns: lines of text with a confidence and a box, and the page they make."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


@dataclass(frozen=True, slots=True)
class Line:
    """One line of text; `confidence` is 0-1; `paragraph_end`: the last line of a paragraph."""

    text: str
    confidence: float
    box: Box
    paragraph_end: bool = False


@dataclass(frozen=True, slots=True)
class Recognition:
    """The text of a page: its lines in reading order, boxes in the upload's pixels.

    `rotation`: the clockwise quarter turn (0, 90, 180, 270) that made the page upright
    before it was read; `deskew_degrees`: the tilt straightened after that turn.
    """

    text: str
    lines: tuple[Line, ...]
    engine: str
    deskew_degrees: float
    scale: float
    rotation: int = 0
