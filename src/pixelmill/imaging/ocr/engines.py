"""Which OCR engine runs, what it is called, which languages it reads, and how it reads.

choose(setting)        "auto" | "tesseract" | "rapidocr" -> the engine to use
label(engine)          "tesseract 5.3.0" / "rapidocr 3.10.0": the response's `engine`
languages(engine)      the languages it accepts, Tesseract's names
check_lang(engine, l)  `eng+rus` -> ("eng", "rus"), or InvalidParameter listing them
read(engine, ...)      the lines in a prepared gray image
PREPARATION[engine]    the preprocessing that measured best for it (bench/ocr.py)
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from pixelmill.errors import InvalidParameter, Unavailable
from pixelmill.imaging.ocr import rapid, tesseract
from pixelmill.imaging.ocr.result import Line

Engine = Literal["tesseract", "rapidocr"]
ENGINES: tuple[Engine, ...] = ("tesseract", "rapidocr")
SETTINGS = ("auto", *ENGINES)
MAX_LANG_CHARS = 100
_LANG = re.compile(r"[A-Za-z0-9_/\-]+(\+[A-Za-z0-9_/\-]+)*")

# What each engine gets, measured with Tesseract and RapidOCR on rendered pages: clean, shaded
# (a 0.4-1.0 gradient plus noise), low-contrast, turned, 8-32 px fonts. Tesseract: flattening
# the lighting took shaded pages from 0.00-0.97 to 0.995-1.0 and changed nothing elsewhere;
# enlarging glyphs under 10 px took 8-px text from 0.31 to 0.96 and 10-px text from 0.49 to
# 1.0; Otsu and adaptive thresholds only lost characters (Tesseract binarizes a flattened
# page better itself). RapidOCR read every page as it came (1.0); enlarging made it slower
# and Otsu lost characters, so it gets the deskew alone (for level, tight line boxes).
PREPARATION: dict[Engine, dict[str, bool]] = {
    "tesseract": {"even_light": True, "deskew": True, "upscale": True, "threshold": False},
    "rapidocr": {"even_light": False, "deskew": True, "upscale": False, "threshold": False},
}


def choose(setting: str) -> Engine:
    """The engine `settings.ocr_engine` names; `auto`: Tesseract if installed, else RapidOCR."""
    if setting == "auto":
        return "tesseract" if tesseract.installed() else "rapidocr"
    if setting == "tesseract":
        if not tesseract.installed():
            raise Unavailable(
                "ocr_engine is tesseract but Tesseract is not installed "
                f"({tesseract.HOW_TO_INSTALL})"
            )
        return "tesseract"
    if setting == "rapidocr":
        if not rapid.installed():
            raise Unavailable("ocr_engine is rapidocr but the rapidocr package is not installed")
        return "rapidocr"
    raise Unavailable(f"ocr_engine {setting!r} is not one of {', '.join(SETTINGS)}")


def label(engine: Engine) -> str:
    """The engine's name and version, as the response reports it."""
    return tesseract.version() if engine == "tesseract" else rapid.version()


def languages(engine: Engine) -> tuple[str, ...]:
    """The languages `engine` reads, by Tesseract's names."""
    return tesseract.languages() if engine == "tesseract" else tuple(sorted(rapid.LANGUAGES))


def check_lang(engine: Engine, lang: str) -> tuple[str, ...]:
    """The languages of `lang` ("eng", "eng+rus"), each one `engine` reads; else a 422."""
    installed = languages(engine)
    listing = ", ".join(installed)
    if len(lang) > MAX_LANG_CHARS or not _LANG.fullmatch(lang):
        raise InvalidParameter(
            f"lang must be language names joined by '+', such as eng or eng+rus; "
            f"installed languages: {listing}"
        )
    wanted = tuple(dict.fromkeys(lang.split("+")))
    unknown = [name for name in wanted if name not in installed]
    if not unknown:
        return wanted
    shown = ", ".join(repr(name) for name in unknown)
    if engine == "rapidocr" and set(unknown) & rapid.CYRILLIC:
        raise InvalidParameter(
            f"lang {shown}: the OCR engine in use, rapidocr, reads no Cyrillic; Tesseract "
            f"does ({tesseract.HOW_TO_INSTALL}, with ocr_engine auto or tesseract). "
            f"Installed languages: {listing}"
        )
    raise InvalidParameter(f"unknown OCR language {shown}; installed languages: {listing}")


def read(engine: Engine, gray: np.ndarray, lang: tuple[str, ...], threads: int = 1) -> list[Line]:
    """The lines `engine` finds in the prepared image, boxes in its pixels."""
    if engine == "tesseract":
        return tesseract.read(gray, "+".join(lang))
    return rapid.read(gray, threads)
