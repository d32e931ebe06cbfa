"""OCR engines on rendered text: what each reads, how well, and where it says the lines are.

Every image is drawn here with the packaged Cyrillic-capable font on white. Similarity is
difflib's ratio on lower-cased text. Tesseract must read clean English at 0.95 and the rest
at 0.9; the fallback (RapidOCR) is held to the bounds its own figures allow (it read every
English case at 1.0 when measured; the bounds leave room for a model update).
"""

from __future__ import annotations

import difflib
import os
import socket
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixelmill.errors import InvalidParameter, Unavailable
from pixelmill.imaging.fonts import load_font
from pixelmill.imaging.ocr import Engine, engines, rapid, recognize, tesseract
from tests.images import iou

ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."
RUSSIAN = "Съешь же ещё этих мягких французских булок, да выпей чаю."
HOW_TO_INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus"


# --- helpers shared with the other OCR tests -----------------------------------------------


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


# --- the cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    lang: tuple[str, ...]
    size: int = 32
    degrees: float = 0.0
    tesseract_min: float = 0.9
    fallback_min: float | None = None  # None: the fallback does not read this language

    def image(self) -> np.ndarray:
        image = render(self.text, self.size, pad=20 if self.size >= 20 else 8)
        return turned(image, self.degrees) if self.degrees else image


CASES = [
    Case("english", ENGLISH, ("eng",), tesseract_min=0.95, fallback_min=0.9),
    Case("english turned 3°", ENGLISH, ("eng",), degrees=3.0, fallback_min=0.85),
    Case("russian", RUSSIAN, ("rus",)),
    Case("english 12 px", ENGLISH, ("eng",), size=12, fallback_min=0.85),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_tesseract_reads_the_case(case: Case) -> None:
    require_tesseract(*case.lang)
    image = case.image()
    result = recognize(image, "tesseract", case.lang)
    ratio = similarity(case.text, result.text)
    assert ratio >= case.tesseract_min, (ratio, result.text)
    assert result.engine.startswith("tesseract ")
    assert len(result.lines) == 1
    line = result.lines[0]
    assert 0.5 < line.confidence <= 1
    assert iou(line.box, ink_box(image)) > 0.5, (line.box, ink_box(image))


FALLBACK_CASES = [case for case in CASES if case.fallback_min is not None]


@pytest.mark.parametrize("case", FALLBACK_CASES, ids=[case.name for case in FALLBACK_CASES])
def test_fallback_reads_the_case(case: Case) -> None:
    image = case.image()
    result = recognize(image, "rapidocr", case.lang)
    ratio = similarity(case.text, result.text)
    assert case.fallback_min is not None and ratio >= case.fallback_min, (ratio, result.text)
    assert result.engine.startswith("rapidocr 3.")
    assert len(result.lines) == 1
    line = result.lines[0]
    assert 0.5 < line.confidence <= 1
    assert iou(line.box, ink_box(image)) > 0.5, (line.box, ink_box(image))


def test_boxes_of_a_paragraph_are_in_the_upload_pixels_after_deskew_and_upscale() -> None:
    require_tesseract("eng")
    lines = ["First line of the page,", "then the second one", "and the last line."]
    image = render(lines, size=11, pad=10)  # small: enlarged before reading
    tilted = turned(image, 4.0)
    result = recognize(tilted, "tesseract", ("eng",))
    assert result.scale > 1 and abs(result.deskew_degrees - 4.0) <= 0.5
    assert len(result.lines) == 3
    for want, line in zip(lines, result.lines, strict=True):
        assert similarity(want, line.text) >= 0.9, line.text
    # each line's box holds the ink of that line, in the tilted image's pixels
    ys = [line.box[1] for line in result.lines]
    assert ys == sorted(ys)
    for line in result.lines:
        x, y, w, h = line.box
        assert x >= 0 and y >= 0
        assert x + w <= tilted.shape[1] and y + h <= tilted.shape[0]
        assert (tilted[y : y + h, x : x + w] < 128).sum() > 50


def test_the_page_text_keeps_paragraphs_apart() -> None:
    require_tesseract("eng")
    top = render(["A first paragraph of text", "that runs over two lines."], 28)
    gap = np.full((80, top.shape[1]), 255, np.uint8)
    bottom = render("Another paragraph.", 28)
    bottom = cv2.copyMakeBorder(
        bottom, 0, 0, 0, top.shape[1] - bottom.shape[1], cv2.BORDER_CONSTANT, value=255
    )
    result = recognize(np.vstack([top, gap, bottom]), "tesseract", ("eng",))
    paragraphs = result.text.split("\n\n")
    assert len(paragraphs) == 2, result.text
    assert similarity("A first paragraph of text\nthat runs over two lines.", paragraphs[0]) > 0.9


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_a_blank_image_has_no_text(engine: Engine) -> None:
    if engine == "tesseract":
        require_tesseract("eng")
    result = recognize(np.full((120, 300, 3), 255, np.uint8), engine, ("eng",))
    assert result.text == "" and result.lines == ()


def test_tesseract_reads_several_languages_at_once() -> None:
    require_tesseract("eng", "rus")
    image = np.vstack([render(ENGLISH), render(RUSSIAN)[:, : render(ENGLISH).shape[1]]])
    result = recognize(image, "tesseract", ("eng", "rus"))
    assert len(result.lines) == 2
    assert similarity(ENGLISH, result.lines[0].text) >= 0.9


def test_recognize_leaves_its_input_alone() -> None:
    image = turned(render(ENGLISH, 12, 8), 2.0)
    before = image.copy()
    recognize(image, "rapidocr", ("eng",))
    assert np.array_equal(image, before)


# --- lines from Tesseract's word table -----------------------------------------------------


def test_words_are_grouped_into_lines_with_mean_confidence_and_union_box() -> None:
    rows = [
        # level, page, block, par, line, left, top, width, height, conf, text
        (4, 1, 1, 1, 1, 10, 10, 200, 20, -1, ""),
        (5, 1, 1, 1, 1, 10, 10, 50, 20, 90, "Hello"),
        (5, 1, 1, 1, 1, 70, 12, 60, 18, 70, "there"),
        (5, 1, 1, 1, 2, 10, 40, 40, 20, 80, "next"),
        (5, 1, 1, 1, 2, 55, 40, 10, 20, 95, " "),  # blank words are dropped
        (5, 1, 2, 1, 1, 10, 90, 30, 20, 60, "new"),
    ]
    names = ("level", "page_num", "block_num", "par_num", "line_num")
    names += ("left", "top", "width", "height", "conf", "text")
    data: dict[str, list[object]] = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    lines = tesseract.lines_from_data(data)
    assert [line.text for line in lines] == ["Hello there", "next", "new"]
    assert lines[0].box == (10, 10, 120, 20)
    assert lines[0].confidence == pytest.approx(0.8)
    assert [line.paragraph_end for line in lines] == [False, True, True]


# --- choosing the engine and checking languages --------------------------------------------


def test_auto_takes_tesseract_when_installed_else_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tesseract, "installed", lambda: True)
    assert engines.choose("auto") == "tesseract"
    monkeypatch.setattr(tesseract, "installed", lambda: False)
    assert engines.choose("auto") == "rapidocr"
    assert engines.choose("rapidocr") == "rapidocr"
    with pytest.raises(Unavailable, match="apt-get install tesseract-ocr"):
        engines.choose("tesseract")
    with pytest.raises(Unavailable, match="not one of auto, tesseract, rapidocr"):
        engines.choose("easyocr")


def test_tesseract_languages_are_the_installed_ones() -> None:
    require_tesseract("eng", "rus")
    assert {"eng", "rus"} <= set(engines.languages("tesseract"))
    assert "osd" not in engines.languages("tesseract")
    assert engines.check_lang("tesseract", "eng+rus") == ("eng", "rus")
    with pytest.raises(InvalidParameter, match=r"unknown OCR language 'xyz'.*eng.*rus"):
        engines.check_lang("tesseract", "xyz")


@pytest.mark.parametrize("lang", ["", "eng+", "+eng", "eng rus", "eng;rus", "a" * 101])
def test_malformed_lang_is_refused(lang: str) -> None:
    with pytest.raises(InvalidParameter, match="joined by '\\+'"):
        engines.check_lang("rapidocr", lang)


def test_the_fallback_refuses_cyrillic_and_says_what_reads_it() -> None:
    assert engines.check_lang("rapidocr", "eng+fra") == ("eng", "fra")
    with pytest.raises(InvalidParameter, match=r"reads no Cyrillic.*tesseract-ocr-rus.*eng"):
        engines.check_lang("rapidocr", "eng+rus")


def test_the_fallback_models_ship_in_its_wheel() -> None:
    paths = rapid.model_paths()
    assert set(paths) == {"Det", "Rec"}
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 1_000_000
        assert path.parent == rapid.model_dir()
    assert rapid.version().startswith("rapidocr 3.10")


def test_the_fallback_loads_and_reads_with_the_network_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCR tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    rapid._engine.cache_clear()  # load the models afresh, as a new worker process does
    result = recognize(render(ENGLISH), "rapidocr", ("eng",))
    assert similarity(ENGLISH, result.text) >= 0.9
