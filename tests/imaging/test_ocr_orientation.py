"""OCR of turned pages: a page turned 90, 180 or 270° reads as well as upright, on both engines.

The page is the text of Tesseract's own test page (tests/ocr_pages.PHOTOTEST), drawn with the
packaged font, and turned exactly (cv2.rotate). Before orientation was detected, what both
engines read of it upside down had a character similarity of 0.08-0.14 to the text (1.0
upright). Every test that reads runs once per engine (the `ocr_engine`
fixture); the OSD tests need Tesseract's orientation data (tesseract-ocr-osd).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cache

import cv2
import numpy as np
import pytest

from pixelmill.imaging.ocr import (
    Engine,
    Recognition,
    engines,
    orientation,
    recognize,
    tesseract,
)
from pixelmill.imaging.ocr.preprocess import ROTATIONS
from tests.images import iou
from tests.ocr_pages import (
    CLOCKWISE,
    ENGLISH,
    PHOTOTEST,
    lying,
    render,
    require_osd,
    word_errors,
)

TEXT = "\n".join(line for line in PHOTOTEST if line)


@cache
def page(size: int) -> np.ndarray:
    return render(PHOTOTEST, size, pad=40)


@cache
def upright(engine: Engine, size: int) -> Recognition:
    return recognize(page(size), engine)


def stood_up(box: tuple[int, int, int, int], shape: tuple[int, ...], rotation: int) -> tuple:
    """A box in a page lying `rotation` degrees short of upright -> the box in the upright page,
    by turning a mask of it (independent of the code under test)."""
    mask = np.zeros(shape[:2], np.uint8)
    x, y, w, h = box
    mask[y : y + h, x : x + w] = 255
    if rotation:
        mask = cv2.rotate(mask, CLOCKWISE[rotation])
    return cv2.boundingRect(cv2.findNonZero(mask))


@pytest.mark.parametrize("size", [24, 12], ids=["24px", "12px"])
@pytest.mark.parametrize("rotation", ROTATIONS)
def test_a_turned_page_reads_as_well_as_upright(
    ocr_engine: Engine, rotation: int, size: int
) -> None:
    straight = upright(ocr_engine, size)
    assert straight.rotation == 0
    assert word_errors(TEXT, straight.text) <= 1, straight.text
    image = lying(page(size), rotation)
    result = recognize(image, ocr_engine)
    assert result.rotation == rotation
    # the same words, no more wrong than upright (a margin of one)
    assert word_errors(TEXT, result.text) <= word_errors(TEXT, straight.text) + 1, result.text
    # the same lines, each box in the uploaded (turned) image's pixels, on its ink, and on
    # the same line as upright once the page is stood up
    assert len(result.lines) == len(straight.lines)
    height, width = image.shape
    for line, level in zip(result.lines, straight.lines, strict=True):
        x, y, w, h = line.box
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        if rotation in (90, 270):
            assert h > w, line  # a line stands up in a page lying on its side
        assert (image[y : y + h, x : x + w] < 128).mean() > 0.05, line
        assert iou(stood_up(line.box, image.shape, rotation), level.box) > 0.7, (line, level)


def test_a_slightly_tilted_page_upside_down_is_turned_and_straightened(ocr_engine: Engine) -> None:
    tilted = cv2.warpAffine(
        page(24),
        cv2.getRotationMatrix2D((page(24).shape[1] / 2, page(24).shape[0] / 2), 3.0, 1.0),
        (page(24).shape[1], page(24).shape[0]),
        borderValue=255,
    )
    result = recognize(lying(tilted, 180), ocr_engine)
    assert result.rotation == 180
    assert abs(result.deskew_degrees - 3.0) <= 0.5
    assert word_errors(TEXT, result.text) <= 2, result.text


def test_an_upright_page_read_with_confidence_is_read_once(
    ocr_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the cost of orientation on an upright page: nothing but the reading itself
    def no_turn(*args: object) -> int:
        raise AssertionError("an upright page was checked for a turn")

    monkeypatch.setattr(orientation, "_turn", no_turn)
    result = recognize(page(24), ocr_engine)
    assert result.rotation == 0 and word_errors(TEXT, result.text) <= 1


def test_a_turned_page_costs_two_readings_and_a_small_check(
    ocr_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ocr_engine == "tesseract":
        require_osd()
    read, asked = engines.read, []

    def counted(engine: Engine, gray: np.ndarray, *args: object) -> object:
        asked.append(gray.size)
        return read(engine, gray, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engines, "read", counted)
    image = lying(page(24), 180)
    assert recognize(image, ocr_engine).rotation == 180
    whole = [size for size in asked if size >= image.size]
    sheets = [size for size in asked if size < image.size]
    assert len(whole) == 2  # as it came, then turned upright
    if ocr_engine == "tesseract":
        assert sheets == []  # OSD told the turn
    else:  # a probe: two sheets of three line pieces, each a fraction of the page
        assert len(sheets) == 2 and max(sheets) < image.size / 4


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_a_few_words_turned_are_read_or_left_alone(ocr_engine: Engine, rotation: int) -> None:
    # too few characters for Tesseract's OSD: probing lines reads them instead, no error
    image = lying(render("Invoice 2024", 28), rotation)
    result = recognize(image, ocr_engine)
    assert result.rotation == rotation
    assert result.text == "Invoice 2024"


@pytest.mark.parametrize("shape", [(1, 1), (40, 300), (300, 40), (400, 400)])
def test_a_blank_page_has_no_turn(ocr_engine: Engine, shape: tuple[int, int]) -> None:
    result = recognize(np.full(shape, 255, np.uint8), ocr_engine)
    assert (result.text, result.rotation) == ("", 0)


# --- Tesseract's OSD --------------------------------------------------------------------------


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_osd_finds_the_turn_of_a_page(rotation: int) -> None:
    require_osd()
    found = tesseract.orientation(lying(page(24), rotation))
    assert found is not None
    turn, confidence = found
    assert turn == rotation and confidence >= orientation.OSD_MIN_CONFIDENCE


@pytest.mark.parametrize(
    "image",
    [np.full((200, 300), 255, np.uint8), render("Hi", 20)],
    ids=["blank", "two letters"],
)
def test_osd_without_enough_characters_says_nothing(image: np.ndarray) -> None:
    require_osd()
    assert tesseract.orientation(image) is None  # "Too few characters": no turn, no error


@pytest.fixture
def no_osd(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tesseract as on a machine without tesseract-ocr-osd."""
    monkeypatch.setattr(tesseract, "has_osd", lambda: False)

    def absent(gray: np.ndarray) -> None:
        raise AssertionError("OSD asked without its data")

    monkeypatch.setattr(tesseract, "orientation", absent)
    orientation._osd_installed.cache_clear()
    yield
    orientation._osd_installed.cache_clear()


@pytest.mark.parametrize("rotation", [90, 180])
def test_tesseract_without_osd_probes_like_rapidocr_and_says_so(
    ocr_engine: Engine, no_osd: None, rotation: int, caplog: pytest.LogCaptureFixture
) -> None:
    if ocr_engine == "rapidocr":  # RapidOCR never asks OSD: the same answer either way
        assert recognize(lying(page(24), rotation), ocr_engine).rotation == rotation
        return
    with caplog.at_level(logging.WARNING, logger=orientation.__name__):
        result = recognize(lying(page(24), rotation), ocr_engine)
    assert result.rotation == rotation
    assert word_errors(TEXT, result.text) <= word_errors(TEXT, upright(ocr_engine, 24).text) + 1
    [record] = caplog.records
    assert "apt-get install tesseract-ocr-osd" in record.getMessage()
    assert "reading sample lines each way" in record.getMessage()


def test_recognize_leaves_a_turned_input_alone(ocr_engine: Engine) -> None:
    image = lying(render(ENGLISH, 20), 180)
    before = image.copy()
    assert recognize(image, ocr_engine).rotation == 180
    assert np.array_equal(image, before)
