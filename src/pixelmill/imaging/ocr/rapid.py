"""RapidOCR: the fallback engine, for a machine with nothing but pip.

The `rapidocr` 3.10 wheel ships its default models (PP-OCRv6 small text detector and
recognizer, ~30 MB of ONNX, and a 0/180° line classifier) inside the package; onnxruntime
runs them. pixelmill hands it those files by path, so RapidOCR never takes the
branch that would fetch a model from its hub. The recognizer reads Latin-script languages,
Chinese and Japanese; it reads no Cyrillic (nor Greek, Arabic, ...), so those languages are
refused with a 422 that says to install Tesseract.

Settings that differ from RapidOCR's defaults, each measured (bench/ocr.py): the detector
scales the page so its longest side is at most 960 px (the default scales the *shortest* side
up to 736, which turned a one-line image into a 10,000-px-wide one: 10x slower, and some
lines misread); the 0/180° classifier is off (it turned correctly read lines of the 300-dpi
page upside down: similarity 0.89 with it, 1.0 without, and faster). The models are loaded
once per process, on first use (about a second).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pixelmill.errors import Unavailable
from pixelmill.imaging.ocr.preprocess import ink, tighten, to_gray
from pixelmill.imaging.ocr.result import Line

NAME = "rapidocr"
PACKAGE = "rapidocr"
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
# Tesseract's names of the languages the PP-OCRv6 recognizer covers (RapidOCR's own list for
# that model), so one `lang` works with either engine.
LANGUAGES = (
    *("afr", "aze", "bos", "cat", "ces", "cym", "dan", "deu", "eng", "est", "eus", "fin"),
    *("fra", "gle", "glg", "hrv", "hun", "ind", "isl", "ita", "lat", "lav", "lit", "ltz"),
    *("mlt", "mri", "msa", "nld", "nor", "oci", "pol", "por", "que", "ron", "slk", "slv"),
    *("spa", "sqi", "swa", "swe", "tgl", "tur", "uzb", "vie"),
    *("chi_sim", "chi_tra", "jpn"),
)
# Languages users may well ask for that the recognizer cannot read: a clearer 422 for them.
CYRILLIC = frozenset({"rus", "ukr", "bel", "bul", "srp", "mkd", "kaz", "kir", "tgk", "mon"})
# RapidOCR shrinks a page to at most 2,000 px long and rounds its sides to 32 px: a page more
# than ~125 times as long as it is wide loses its short side (ResizeImgError). One under 30 px
# across it enlarges to 30 first: a 1,999×1 strip became 59,970×30, then was padded to a
# quarter as high (2.8 GB, 9 s). A page longer than this ratio is padded with paper to it, and
# read like any page of its length.
MAX_ASPECT = 50


def installed() -> bool:
    """Whether the rapidocr package and onnxruntime can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in (PACKAGE, "onnxruntime"))


@lru_cache(maxsize=1)
def version() -> str:
    """`rapidocr 3.10.0`."""
    try:
        return f"{NAME} {metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        raise Unavailable("the rapidocr package is not installed (pip install rapidocr)") from None


def model_dir() -> Path:
    """The models folder inside the installed rapidocr package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise Unavailable("the rapidocr package is not installed (pip install rapidocr)")
    return Path(spec.origin).parent / "models"


def model_paths() -> dict[str, Path]:
    """The three model files, which must all be there (else 503 naming the missing ones)."""
    folder = model_dir()
    paths = {task: folder / name for task, name in MODEL_FILES.items()}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        raise Unavailable(
            f"rapidocr's packaged models are missing ({', '.join(missing)} in {folder}); "
            "pixelmill expects rapidocr 3.10, whose wheel ships them"
        )
    return paths


@lru_cache(maxsize=4)
def _engine(threads: int) -> Any:
    from rapidocr import RapidOCR

    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    params: dict[str, Any] = {
        "Global.log_level": "error",
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": 960,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    for task, path in model_paths().items():
        params[f"{task}.model_path"] = str(path)
    return RapidOCR(params=params)


def read(gray: np.ndarray, threads: int = 1) -> list[Line]:
    """The lines of text in `gray`, boxes in its own pixels, top to bottom.

    The detector's boxes are padded around the text (by about half the line height); they
    are shrunk to the ink inside them, like Tesseract's.
    """
    page = to_gray(gray)
    height, width = page.shape
    padded = _within_aspect(page)
    output = _engine(max(1, threads))(cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR))
    if output.txts is None or output.boxes is None or output.scores is None:
        return []
    text_ink = ink(page)
    lines = []
    for text, quad, score in zip(output.txts, output.boxes, output.scores, strict=True):
        corners = np.asarray(quad, np.float64)
        x0, y0 = np.clip(np.floor(corners.min(axis=0)), 0, (width, height))
        x1, y1 = np.clip(np.ceil(corners.max(axis=0)), 0, (width, height))
        if x1 <= x0 or y1 <= y0:  # in the padding
            continue
        box = tighten((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), text_ink)
        lines.append(Line(str(text).strip(), float(score), box, paragraph_end=False))
    return [line for line in lines if line.text]


def _within_aspect(page: np.ndarray) -> np.ndarray:
    """`page` padded below or on the right with its paper to at most MAX_ASPECT:1."""
    height, width = page.shape
    if max(width, height) <= MAX_ASPECT * min(width, height):
        return page
    paper = int(np.median(page))
    bottom = max(0, math.ceil(width / MAX_ASPECT) - height)
    right = max(0, math.ceil(height / MAX_ASPECT) - width)
    return cv2.copyMakeBorder(page, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=paper)
