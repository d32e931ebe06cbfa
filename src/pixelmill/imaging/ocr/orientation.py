"""Which way up a page is: read it upright, whether it came upright or turned a quarter.

    read_upright(image, engine, lang, threads)   -> Reading: the best reading and its turn
    Reading.rotation                             the clockwise turn (0, 90, 180, 270) that
                                                 made the page upright before it was read

The page is read as it came first. A reading whose lines lie level and whose engine is sure
of them (mean confidence per character at least UPRIGHT_CONFIDENCE) is the answer: an
upright page costs nothing more. Otherwise the page may be turned, and each engine finds
out its own way:

- Tesseract asks its orientation detection (OSD, tesseract.orientation) on a copy whose
  glyphs are about 20 px high, the size it reads most reliably (it misreads glyphs under
  14 px, some of them confidently).
- RapidOCR, and Tesseract when OSD is not installed or cannot tell (too few characters),
  probe: the middles of the three longest lines of the first reading (each at most 10 times
  as long as it is thick), cut out and stacked on a small sheet, are read two ways, turned by
  0 and 180° when the lines lie level or by 90 and 270° when they stand up, and the way with
  more confident characters wins. On 10 rendered pages (11-32 px text, clean, shaded, noisy,
  low-contrast, tilted) turned each of the four ways, the probe chose right every time with
  either engine, the winner scoring 1.45-8 times the loser; it costs 0.2-0.5 s (two small
  reads), against 0.8 s to read a 8-line page with RapidOCR and 4.5 s for the 300-dpi page.

The page is then read again turned that way. That reading is kept if it looks upright or has
more confident characters (the sum of confidence × characters) than the first, so a wrong
guess never makes a reading worse.
RapidOCR's own 0/180° line classifier (in its wheel) is not used: reading a page with it did
not make an upside-down page readable (similarity 0.17-0.53 to the text, against 1.0
upright) and made the upright 300-dpi page worse (0.91).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from pixelmill.imaging.ocr import engines, tesseract
from pixelmill.imaging.ocr.engines import Engine
from pixelmill.imaging.ocr.preprocess import (
    MAX_SIDE,
    ROTATE_CODES,
    Prepared,
    prepare,
    text_height,
)
from pixelmill.imaging.ocr.result import Line

log = logging.getLogger(__name__)

# The mean confidence per character above which a level reading is taken as upright. Measured
# on rendered pages (clean, shaded, noisy, low-contrast, tilted, 11-32 px text): upright,
# Tesseract read at 0.94-0.96 and RapidOCR at 0.97-1.0; upside down, Tesseract at 0.07-0.47
# and RapidOCR at 0.59-0.78.
UPRIGHT_CONFIDENCE: dict[Engine, float] = {"tesseract": 0.75, "rapidocr": 0.9}
OSD_TEXT_PX = 20.0  # glyph height OSD reads at: reliable from 14 px, and faster than larger
# OSD's time grows with the pixels (1.1 s for the 300-dpi A4 page, 8.7 MP): its copy is
# enlarged at most twice and to at most this many pixels (a photo's specks once made it 60 MP).
OSD_MAX_PIXELS = 12_000_000
OSD_MIN_CONFIDENCE = 2.0  # OSD's own score; its right answers scored 4.7-20 on our pages
PROBE_LINES = 3  # the longest lines of a page, a piece of each read both ways
PROBE_LENGTH = 10  # a piece at most this many times as long as its line is thick
PROBE_THICKNESS = 2.5  # and at most this many glyph heights thick


@dataclass(frozen=True, slots=True)
class Reading:
    """The lines an engine found in a prepared page, boxes in the prepared image's pixels."""

    prepared: Prepared
    lines: list[Line]

    @property
    def rotation(self) -> int:
        return self.prepared.rotation

    @property
    def score(self) -> float:
        """Confident characters: the sum over lines of confidence × characters."""
        return _score(self.lines)

    def looks_upright(self, engine: Engine) -> bool:
        """Lines that mostly lie level, read with at least UPRIGHT_CONFIDENCE per character."""
        characters = _characters(self.lines)
        level = _characters([line for line in self.lines if _level(line)])
        return (
            characters > 0
            and 2 * level >= characters
            and self.score >= UPRIGHT_CONFIDENCE[engine] * characters
        )


def read_upright(
    image: np.ndarray, engine: Engine, lang: tuple[str, ...], threads: int = 1
) -> Reading:
    """The best reading of `image` turned by 0, 90, 180 or 270°, trying as few as it can."""
    first = _read(image, 0, engine, lang, threads)
    if not first.lines or first.looks_upright(engine):
        return first
    turn = _turn(first, engine, lang, threads)
    if not turn:
        return first
    again = _read(image, turn, engine, lang, threads)
    return again if again.looks_upright(engine) or again.score > first.score else first


def _read(
    image: np.ndarray, rotation: int, engine: Engine, lang: tuple[str, ...], threads: int
) -> Reading:
    prepared = prepare(image, rotation=rotation, **engines.PREPARATION[engine])
    return Reading(prepared, engines.read(engine, prepared.image, lang, threads))


def _turn(first: Reading, engine: Engine, lang: tuple[str, ...], threads: int) -> int:
    """The turn a page read as `first` needs (0: none), by OSD or by probing."""
    if engine == "tesseract" and _osd_installed():
        found = tesseract.orientation(_osd_copy(first.prepared.image))
        if found is not None and found[1] >= OSD_MIN_CONFIDENCE:
            return found[0]
        # no answer from OSD (too few characters, a low score): probe, as for RapidOCR
    return _probe(first, engine, lang, threads)


@cache
def _osd_installed() -> bool:
    if tesseract.has_osd():
        return True
    log.warning(
        "Tesseract's orientation data is not installed (apt-get install tesseract-ocr-osd): "
        "/ocr finds the turn of a page by reading sample lines each way, as with RapidOCR"
    )
    return False


def _osd_copy(gray: np.ndarray) -> np.ndarray:
    """`gray` scaled so its glyphs are about OSD_TEXT_PX high (as it is when that is close)."""
    height = text_height(gray)
    if height is None:
        return gray
    factor = min(OSD_TEXT_PX / height, 2.0, math.sqrt(OSD_MAX_PIXELS / gray.size))
    factor = min(factor, MAX_SIDE / max(gray.shape))
    if 0.8 <= factor <= 1.25:
        return gray
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=interpolation)


def _probe(first: Reading, engine: Engine, lang: tuple[str, ...], threads: int) -> int:
    """The better of two turns for the longest lines of `first`, read on a small sheet."""
    sample = sorted(first.lines, key=lambda line: -max(line.box[2], line.box[3]))[:PROBE_LINES]
    level = 2 * _characters([line for line in sample if _level(line)]) >= _characters(sample)
    turns = (0, 180) if level else (90, 270)
    page = first.prepared.image
    scores = {
        turn: _score(engines.read(engine, _sheet(page, sample, turn), lang, threads))
        for turn in turns
    }
    best = max(turns, key=lambda turn: scores[turn])
    return best if scores[best] > min(scores.values()) else 0


def _sheet(page: np.ndarray, lines: list[Line], turn: int) -> np.ndarray:
    """The middle of each line cut out of `page` with a margin, turned by `turn`, the pieces
    one under another on the page's paper."""
    paper = int(np.median(page))
    glyphs = text_height(page)
    pieces = []
    for line in lines:
        x, y, w, h = line.box
        if w < h:  # a line standing up: its length runs down
            y, h, x, w = _piece(y, h, x, w, glyphs)
        else:
            x, w, y, h = _piece(x, w, y, h, glyphs)
        margin = max(4, round(0.3 * min(w, h)))
        piece = page[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin]
        if piece.size:
            pieces.append(cv2.rotate(piece, ROTATE_CODES[turn]) if turn else piece)
    if not pieces:
        return np.full((1, 1), paper, np.uint8)
    width = max(piece.shape[1] for piece in pieces)
    gap = max(8, min(piece.shape[0] for piece in pieces) // 2)
    rows = [np.full((gap, width), paper, np.uint8)]
    for piece in pieces:
        right = width - piece.shape[1]
        rows.append(cv2.copyMakeBorder(piece, 0, gap, 0, right, cv2.BORDER_CONSTANT, value=paper))
    return np.vstack(rows)


def _piece(
    start: int, length: int, side: int, thickness: int, glyphs: float | None
) -> tuple[int, int, int, int]:
    """The middle of a line along its length and across it: at most PROBE_THICKNESS glyphs
    thick (a tilted line's box holds parts of its neighbours) and PROBE_LENGTH times as long."""
    if glyphs is not None and thickness > PROBE_THICKNESS * glyphs:
        keep = max(1, round(PROBE_THICKNESS * glyphs))
        side, thickness = side + (thickness - keep) // 2, keep
    keep = PROBE_LENGTH * thickness
    if length > keep:
        start, length = start + (length - keep) // 2, keep
    return start, length, side, thickness


def _level(line: Line) -> bool:
    return line.box[2] >= line.box[3]


def _characters(lines: list[Line]) -> int:
    return sum(len(line.text.replace(" ", "")) for line in lines)


def _score(lines: list[Line]) -> float:
    return sum(max(0.0, line.confidence) * len(line.text.replace(" ", "")) for line in lines)
