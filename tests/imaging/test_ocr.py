"""OCR engines on rendered text: what each reads, how well, and where it says the lines are.

Every test that reads runs once per engine (the `ocr_engine` fixture: ids [tesseract] and
[rapidocr]). Every image is drawn with the packaged Cyrillic-capable font on white (see
tests/ocr_pages.py). Tesseract must read clean English at 0.95 and the rest at 0.9; RapidOCR
is held to the bounds its own figures allow (it read every English case at 1.0 when measured;
the bounds leave room for a model update). RapidOCR reads no Cyrillic: where a case is
Russian, its turn checks the 422 that says so.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from pixelmill.errors import InvalidParameter, TooLarge, Unavailable
from pixelmill.imaging.ocr import MAX_SIDE, Engine, engines, rapid, recognize, tesseract
from tests.images import iou
from tests.ocr_pages import (
    ENGLISH,
    RUSSIAN,
    ink_box,
    render,
    require_tesseract,
    similarity,
    turned,
)

# --- the cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    lang: tuple[str, ...]
    size: int = 32
    degrees: float = 0.0
    tesseract_min: float = 0.9
    rapidocr_min: float | None = None  # None: RapidOCR does not read this language

    def image(self) -> np.ndarray:
        image = render(self.text, self.size, pad=20 if self.size >= 20 else 8)
        return turned(image, self.degrees) if self.degrees else image

    def least(self, engine: Engine) -> float | None:
        return self.tesseract_min if engine == "tesseract" else self.rapidocr_min


CASES = [
    Case("english", ENGLISH, ("eng",), tesseract_min=0.95, rapidocr_min=0.9),
    Case("english turned 3 degrees", ENGLISH, ("eng",), degrees=3.0, rapidocr_min=0.85),
    Case("russian", RUSSIAN, ("rus",)),
    Case("english 12 px", ENGLISH, ("eng",), size=12, rapidocr_min=0.85),
]


def refuses_cyrillic(engine: Engine, lang: str) -> None:
    """RapidOCR's answer to a Cyrillic `lang`: the 422 naming Tesseract and what it reads."""
    assert engine == "rapidocr"
    with pytest.raises(InvalidParameter) as refused:
        engines.check_lang(engine, lang)
    detail = str(refused.value)
    assert "reads no Cyrillic" in detail and "tesseract-ocr-rus" in detail
    assert "eng" in detail.split("Installed languages:")[1]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_engine_reads_the_case(ocr_engine: Engine, case: Case) -> None:
    least = case.least(ocr_engine)
    if least is None:
        refuses_cyrillic(ocr_engine, "+".join(case.lang))
        return
    if ocr_engine == "tesseract":
        require_tesseract(*case.lang)
    assert engines.check_lang(ocr_engine, "+".join(case.lang)) == case.lang
    image = case.image()
    result = recognize(image, ocr_engine, case.lang)
    ratio = similarity(case.text, result.text)
    assert ratio >= least, (ratio, result.text)
    assert result.engine.startswith(f"{ocr_engine} ")
    assert len(result.lines) == 1
    line = result.lines[0]
    assert 0.5 < line.confidence <= 1
    assert iou(line.box, ink_box(image)) > 0.5, (line.box, ink_box(image))


def test_boxes_of_a_paragraph_are_in_the_upload_pixels_after_deskew(ocr_engine: Engine) -> None:
    lines = ["First line of the page,", "then the second one", "and the last line."]
    image = render(lines, size=11, pad=10)  # small: Tesseract's turn enlarges it first
    tilted = turned(image, 4.0)
    result = recognize(tilted, ocr_engine, ("eng",))
    assert abs(result.deskew_degrees - 4.0) <= 0.5
    if ocr_engine == "tesseract":
        assert result.scale > 1
    else:  # RapidOCR read small text best as it came (engines.PREPARATION)
        assert result.scale == 1.0
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


def test_the_page_text_keeps_paragraphs_apart_where_the_engine_finds_them(
    ocr_engine: Engine,
) -> None:
    top = render(["A first paragraph of text", "that runs over two lines."], 28)
    gap = np.full((80, top.shape[1]), 255, np.uint8)
    bottom = render("Another paragraph.", 28)
    bottom = cv2.copyMakeBorder(
        bottom, 0, 0, 0, top.shape[1] - bottom.shape[1], cv2.BORDER_CONSTANT, value=255
    )
    result = recognize(np.vstack([top, gap, bottom]), ocr_engine, ("eng",))
    want = ["A first paragraph of text", "that runs over two lines.", "Another paragraph."]
    assert len(result.lines) == 3, result.text
    for line, text in zip(result.lines, want, strict=True):
        assert similarity(text, line.text) > 0.9, line.text
    if ocr_engine == "tesseract":  # Tesseract's layout analysis finds the paragraphs
        assert [line.paragraph_end for line in result.lines] == [False, True, True]
        assert result.text.count("\n\n") == 1
        assert similarity("\n".join(want[:2]), result.text.split("\n\n")[0]) > 0.9
    else:  # RapidOCR finds lines only: one line after the other
        assert [line.paragraph_end for line in result.lines] == [False, False, False]
        assert "\n\n" not in result.text and result.text.count("\n") == 2


def test_a_blank_image_has_no_text(ocr_engine: Engine) -> None:
    result = recognize(np.full((120, 300, 3), 255, np.uint8), ocr_engine, ("eng",))
    assert result.text == "" and result.lines == ()


def test_several_languages_at_once(ocr_engine: Engine) -> None:
    if ocr_engine == "rapidocr":
        refuses_cyrillic(ocr_engine, "eng+rus")
        assert engines.check_lang(ocr_engine, "eng+fra+deu") == ("eng", "fra", "deu")
        return
    require_tesseract("eng", "rus")
    image = np.vstack([render(ENGLISH), render(RUSSIAN)[:, : render(ENGLISH).shape[1]]])
    result = recognize(image, "tesseract", ("eng", "rus"))
    assert len(result.lines) == 2
    assert similarity(ENGLISH, result.lines[0].text) >= 0.9


def test_recognize_leaves_its_input_alone(ocr_engine: Engine) -> None:
    image = turned(render(ENGLISH, 12, 8), 2.0)
    before = image.copy()
    recognize(image, ocr_engine, ("eng",))
    assert np.array_equal(image, before)


# --- odd geometry: an empty result or a 413, never an engine's exception ---------------------


def strip(width: int, height: int, text: bool = False) -> np.ndarray:
    """A white page of this size; with `text`, ENGLISH drawn at its top left."""
    page = np.full((height, width), 255, np.uint8)
    if text:
        line = render(ENGLISH)
        page[: line.shape[0], : line.shape[1]] = line
    return page


def noise(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(width * height).integers(0, 256, (height, width), np.uint8)


BLANK_SHAPES = [
    (1, 1),
    (2, 2),
    (40, 1),
    (1, 40),
    (2000, 16),  # RapidOCR's own limits: 2,000 px long, sides in steps of 32
    (2001, 16),  # past 125:1 once shrunk to 2,000 px: its short side rounded to 0
    (1999, 1),  # RapidOCR enlarged this to 59,970×30 (2.8 GB) before it was padded
    (5000, 20),
    (20, 5000),
    (MAX_SIDE, 2),
    (2, MAX_SIDE),
    (4000, 5000),
]


@pytest.mark.parametrize(
    ("width", "height"), BLANK_SHAPES, ids=[f"{w}x{h}" for w, h in BLANK_SHAPES]
)
def test_odd_geometry_without_text_reads_as_nothing(
    ocr_engine: Engine, width: int, height: int
) -> None:
    result = recognize(strip(width, height), ocr_engine, ("eng",))
    assert (result.text, result.lines) == ("", ())


NOISE_SHAPES = [(3000, 3), (3, 3000), (MAX_SIDE, 2), (2, MAX_SIDE)]


@pytest.mark.parametrize(
    ("width", "height"), NOISE_SHAPES, ids=[f"{w}x{h}" for w, h in NOISE_SHAPES]
)
def test_noise_on_odd_geometry_is_read_without_an_error(
    ocr_engine: Engine, width: int, height: int
) -> None:
    # whatever an engine makes of noise (Tesseract finds "words" in some), boxes stay inside
    result = recognize(noise(width, height), ocr_engine, ("eng",))
    for line in result.lines:
        x, y, w, h = line.box
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height


@pytest.mark.parametrize(
    ("width", "height"), [(MAX_SIDE + 1, 2), (2, 40_000)], ids=["32768x2", "2x40000"]
)
def test_a_side_past_max_side_is_too_large_on_either_engine(
    ocr_engine: Engine, width: int, height: int
) -> None:
    with pytest.raises(TooLarge, match=rf"{width}×{height} pixels.*up to {MAX_SIDE} pixels"):
        recognize(strip(width, height), ocr_engine, ("eng",))


@pytest.mark.parametrize(
    ("width", "height"),
    [(5000, 86), (20_000, 86), (1088, 20_000)],
    ids=["5000x86", "20000x86", "1088x20000"],
)
def test_a_line_on_a_long_strip_is_read_by_tesseract_only(
    ocr_engine: Engine, width: int, height: int
) -> None:
    result = recognize(strip(width, height, text=True), ocr_engine, ("eng",))
    if ocr_engine == "tesseract" or max(width, height) <= 5000:
        assert similarity(ENGLISH, result.text) >= 0.9, result.text
    else:  # RapidOCR reads a page shrunk to 2,000 px long: here the text is 3 px high
        assert result.text == ""


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


def test_auto_takes_tesseract_when_installed_else_rapidocr(
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


def test_the_languages_are_those_the_engine_reads(ocr_engine: Engine) -> None:
    installed = set(engines.languages(ocr_engine))
    assert "eng" in installed and "osd" not in installed
    if ocr_engine == "tesseract":
        require_tesseract("eng", "rus")
        assert "rus" in installed
        assert engines.check_lang(ocr_engine, "eng+rus") == ("eng", "rus")
    else:
        assert {"fra", "deu", "spa", "chi_sim"} <= installed
        assert not installed & rapid.CYRILLIC
    with pytest.raises(InvalidParameter, match=r"unknown OCR language 'xyz'.*\beng\b"):
        engines.check_lang(ocr_engine, "xyz")


@pytest.mark.parametrize("lang", ["", "eng+", "+eng", "eng rus", "eng;rus", "a" * 101])
def test_malformed_lang_is_refused(ocr_engine: Engine, lang: str) -> None:
    with pytest.raises(InvalidParameter, match="joined by '\\+'"):
        engines.check_lang(ocr_engine, lang)


def test_rapidocr_refuses_cyrillic_and_says_what_reads_it() -> None:
    refuses_cyrillic("rapidocr", "eng+rus")
    refuses_cyrillic("rapidocr", "ukr")


# --- RapidOCR's own: models in its wheel, no network ---------------------------------------


def test_the_rapidocr_models_ship_in_its_wheel() -> None:
    paths = rapid.model_paths()
    assert set(paths) == {"Det", "Rec"}
    for path in paths.values():
        assert path.is_file() and path.stat().st_size > 1_000_000
        assert path.parent == rapid.model_dir()
    assert rapid.version().startswith("rapidocr 3.10")


def test_rapidocr_loads_and_reads_with_the_network_cut(
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
