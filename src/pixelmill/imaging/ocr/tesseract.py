"""Tesseract through pytesseract: the engine used whenever its binary is installed.

Lines come from `image_to_data`: words grouped by (block, paragraph, line); a line's box is
the union of its words' boxes and its confidence the mean of their confidences / 100.
Languages are what `tesseract --list-langs` reports (`osd` is orientation data, not a
language), read once per process: a language pack installed later is seen after a restart.

`orientation` is Tesseract's orientation and script detection (OSD, `--psm 0`), which needs
`osd.traineddata` (Debian's tesseract-ocr-osd): the quarter turn that makes a page upright,
with Tesseract's confidence. It reads glyphs of 14 px and more reliably; smaller ones it got
wrong, some confidently (orientation.py enlarges them first).
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache

import numpy as np

from pixelmill.errors import Unavailable
from pixelmill.imaging.ocr.result import Line

NAME = "tesseract"
HOW_TO_INSTALL = (
    "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-osd"
)
TIMEOUT_SECONDS = 120  # a page takes a few seconds; past this something is wrong with it
_NOT_LANGUAGES = frozenset({"osd", "equ"})  # orientation and equation data


def installed() -> bool:
    """Whether the `tesseract` binary is on the PATH."""
    import pytesseract

    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


@lru_cache(maxsize=1)
def version() -> str:
    """`tesseract 5.3.0`."""
    import pytesseract

    try:
        return f"{NAME} {pytesseract.get_tesseract_version().base_version}"
    except (pytesseract.TesseractNotFoundError, OSError):
        raise Unavailable(f"Tesseract is not installed ({HOW_TO_INSTALL})") from None


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The installed languages, sorted (`eng`, `rus`, ...)."""
    import pytesseract

    try:
        found = pytesseract.get_languages(config="")
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError):
        raise Unavailable(f"Tesseract is not installed ({HOW_TO_INSTALL})") from None
    return tuple(sorted(set(found) - _NOT_LANGUAGES))


@lru_cache(maxsize=1)
def has_osd() -> bool:
    """Whether Tesseract's orientation data (osd.traineddata) is installed."""
    import pytesseract

    try:
        return "osd" in pytesseract.get_languages(config="")
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError):
        return False


def orientation(gray: np.ndarray) -> tuple[int, float] | None:
    """(the clockwise turn making the page upright: 0, 90, 180 or 270; OSD's confidence), or
    None when OSD cannot tell (too few characters, a blank page, a failure)."""
    import pytesseract

    _one_thread()
    try:
        found = pytesseract.image_to_osd(
            gray,
            config="--psm 0",
            output_type=pytesseract.Output.DICT,
            timeout=TIMEOUT_SECONDS,
        )
    except pytesseract.TesseractNotFoundError:
        raise Unavailable(f"Tesseract is not installed ({HOW_TO_INSTALL})") from None
    except (pytesseract.TesseractError, RuntimeError):  # "Too few characters", a timeout
        return None
    rotate = int(found["rotate"]) % 360
    if rotate not in (0, 90, 180, 270):
        return None
    return rotate, float(found["orientation_conf"])


def read(gray: np.ndarray, lang: str) -> list[Line]:
    """The lines of text in `gray`, boxes in its own pixels."""
    import pytesseract

    _one_thread()
    try:
        data = pytesseract.image_to_data(
            gray,
            lang=lang,
            config="--psm 3",
            output_type=pytesseract.Output.DICT,
            timeout=TIMEOUT_SECONDS,
        )
    except pytesseract.TesseractNotFoundError:
        raise Unavailable(f"Tesseract is not installed ({HOW_TO_INSTALL})") from None
    except pytesseract.TesseractError as exc:  # e.g. a damaged language file
        raise Unavailable(f"Tesseract failed: {str(exc.message).strip()[:300]}") from None
    except RuntimeError as exc:  # pytesseract's timeout
        raise Unavailable(f"Tesseract gave up on this image: {exc}") from None
    return lines_from_data(data)


def _one_thread() -> None:
    # Tesseract's OpenMP threads gain nothing on a page and spin against the pool's other
    # workers: the 300-dpi page took 1.6 s with one thread or two on an idle machine, but
    # beside one busy process 1.7 s with one and 5.4 s with two (bench/ocr.py). pytesseract
    # passes this process's environment to the binary; an operator's own value is kept.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def lines_from_data(data: dict[str, list[object]]) -> list[Line]:
    """Group `image_to_data` words into lines, in reading order; paragraph ends marked."""
    lines: dict[tuple[int, int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if int(str(data["level"][i])) != 5 or not str(text).strip():
            continue
        key = tuple(int(str(data[k][i])) for k in ("page_num", "block_num", "par_num", "line_num"))
        lines.setdefault(key, []).append(i)  # type: ignore[arg-type]
    result: list[Line] = []
    keys = list(lines)
    for n, key in enumerate(keys):
        words = lines[key]
        x0 = min(int(str(data["left"][i])) for i in words)
        y0 = min(int(str(data["top"][i])) for i in words)
        x1 = max(int(str(data["left"][i])) + int(str(data["width"][i])) for i in words)
        y1 = max(int(str(data["top"][i])) + int(str(data["height"][i])) for i in words)
        confidences = [max(0.0, float(str(data["conf"][i]))) for i in words]
        next_key = keys[n + 1] if n + 1 < len(keys) else None
        result.append(
            Line(
                text=" ".join(str(data["text"][i]).strip() for i in words),
                confidence=sum(confidences) / len(confidences) / 100,
                box=(x0, y0, x1 - x0, y1 - y0),
                paragraph_end=next_key is None or next_key[:3] != key[:3],
            )
        )
    return result
