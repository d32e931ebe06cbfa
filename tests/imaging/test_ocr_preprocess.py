"""OCR preprocessing: the pure functions that prepare a page, and the way boxes map back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pixelmill.imaging.ocr.preprocess import (
    MAX_SIDE,
    ROTATIONS,
    Prepared,
    binarize,
    estimate_skew,
    flatten,
    ink,
    prepare,
    quarter_turn,
    text_height,
    tighten,
    to_gray,
    upscale_factor,
)
from tests.ocr_pages import CLOCKWISE, ENGLISH, ink_box, lying, render, turned

PARAGRAPH = [
    "Projection profiles find the angle at which",
    "the rows of a page are sharpest; a page turned",
    "by a few degrees is turned back before reading.",
]
ANGLES = [1, 2, 3, 4.5, 6, 8, -1, -2.5, -5, -8]


@pytest.mark.parametrize("degrees", ANGLES)
@pytest.mark.parametrize("kind", ["line", "paragraph", "small paragraph"])
def test_skew_is_found_within_half_a_degree(kind: str, degrees: float) -> None:
    page = {
        "line": lambda: render(ENGLISH),
        "paragraph": lambda: render(PARAGRAPH, 24),
        "small paragraph": lambda: render(PARAGRAPH, 12, 8),
    }[kind]()
    assert abs(estimate_skew(turned(page, degrees)) - degrees) <= 0.5


def test_a_straight_page_and_a_blank_one_have_no_skew() -> None:
    assert abs(estimate_skew(render(PARAGRAPH, 24))) <= 0.1
    assert estimate_skew(np.full((100, 200), 255, np.uint8)) == 0.0


def test_skew_of_a_large_page_is_measured_on_a_shrunk_copy() -> None:
    page = cv2.resize(render(PARAGRAPH, 24), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    assert max(page.shape) > 1600
    assert abs(estimate_skew(turned(page, 2.0)) - 2.0) <= 0.5


def test_light_text_on_dark_is_found_too() -> None:
    dark = cv2.bitwise_not(turned(render(PARAGRAPH, 24), 3.0))
    assert abs(estimate_skew(dark) - 3.0) <= 0.5
    assert ink(dark).mean() < 128  # the text, the minority, is the ink


def test_text_height_grows_with_the_font() -> None:
    heights = [text_height(render(PARAGRAPH, size, 8)) for size in (10, 12, 24, 48)]
    assert all(h is not None for h in heights)
    assert heights == sorted(heights)
    assert 4 <= heights[1] <= 10  # type: ignore[operator]  # 12 px: between x-height and caps
    assert text_height(np.full((50, 50), 255, np.uint8)) is None


@pytest.mark.parametrize(
    ("height", "pixels", "factor"),
    [
        (None, 10_000, 1.0),  # no text found
        (20.0, 10_000, 1.0),
        (10.0, 10_000, 1.0),  # 10 px and up are left alone
        (9.0, 10_000, 2.22),  # brought to 20 px
        (8.0, 10_000, 2.5),
        (5.0, 10_000, 3.0),  # at most ×3
        (5.0, 30_000_000, 1.41),  # at most 60 MP in all
    ],
)
def test_upscale_factor(height: float | None, pixels: int, factor: float) -> None:
    assert upscale_factor(height, pixels) == pytest.approx(factor, abs=0.01)


def test_upscale_is_skipped_when_it_would_barely_enlarge() -> None:
    assert upscale_factor(5.0, 40_000_000) == 1.0  # only ×1.22 fits in 60 MP


def test_upscale_stops_at_the_longest_side_ocr_reads() -> None:
    # Tesseract reads no side longer than MAX_SIDE: a prepared page is never enlarged past it
    assert upscale_factor(5.0, 300_000, longest=15_000) == 2.18  # 32,767 / 15,000, rounded down
    assert upscale_factor(5.0, 300_000, longest=30_000) == 1.0  # ×1.09: not worth it


def test_a_page_too_long_for_opencvs_warp_is_read_without_deskew() -> None:
    page = np.random.default_rng(1).integers(0, 256, (MAX_SIDE, 2), np.uint8)
    assert estimate_skew(page) != 0.0  # noise has some "skew"; the warp would refuse this page
    prepared = prepare(page)
    assert prepared.skew_degrees == 0.0
    assert prepared.image.shape == page.shape


def test_to_gray_takes_gray_bgr_and_bgra() -> None:
    gray = render(ENGLISH, 12, 4)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    for image in (gray, bgr, bgra):
        assert np.array_equal(to_gray(image), gray)


def test_binarize_is_black_text_on_white() -> None:
    page = (render(ENGLISH) * 0.5 + 100).astype(np.uint8)  # gray on gray
    out = binarize(page)
    assert set(np.unique(out)) == {0, 255}
    assert (out[page == page.max()] == 255).all()  # the paper
    assert (out[page == page.min()] == 0).all()  # the cores of the strokes


def test_flatten_evens_out_a_shadow_and_keeps_the_text() -> None:
    page = render(PARAGRAPH, 20, 10)
    shade = np.linspace(0.4, 1.0, page.shape[1])[None, :]
    shaded = (page * shade).astype(np.uint8)
    flat = flatten(shaded, text_height(shaded) or 10)
    paper = flat[page == 255]
    text = flat[page == 0]
    assert paper.min() >= 200  # the dark side is paper-white again
    assert text.max() <= 80


def test_tighten_shrinks_a_padded_box_to_its_ink() -> None:
    page = render(ENGLISH, 12, 10)
    x, y, w, h = ink_box(page)
    assert tighten((x - 6, y - 5, w + 12, h + 10), ink(page)) == (x, y, w, h)
    assert tighten((0, 0, 3, 3), ink(page)) == (0, 0, 3, 3)  # no ink: unchanged


def test_prepare_straightens_and_maps_boxes_back() -> None:
    page = render(PARAGRAPH, 11, 10)
    tilted = turned(page, 5.0)
    prepared = prepare(tilted)
    assert abs(prepared.skew_degrees - 5.0) <= 0.5
    assert prepared.scale > 1
    assert prepared.original_size == (tilted.shape[1], tilted.shape[0])
    # the prepared page's text is level: its skew is gone
    assert abs(estimate_skew(prepared.image)) <= 0.3
    # the ink box of the prepared page maps back onto the ink box of the tilted one
    back = prepared.to_original(ink_box(prepared.image))
    x, y, w, h = ink_box(tilted)
    bx, by, bw, bh = back
    assert abs(bx - x) <= 8 and abs(by - y) <= 8
    assert abs(bx + bw - x - w) <= 8 and abs(by + bh - y - h) <= 8


def test_to_original_undoes_the_scale_and_clips() -> None:
    prepared = prepare(render(ENGLISH, 12, 8), deskew=False)
    s = prepared.scale
    assert s > 1
    box = prepared.to_original((round(10 * s), round(4 * s), round(50 * s), round(8 * s)))
    assert np.allclose(box, (10, 4, 50, 8), atol=1)
    width, height = prepared.original_size
    assert prepared.to_original((-40, -40, 10**6, 10**6)) == (0, 0, width, height)


def test_prepare_without_steps_is_a_gray_copy() -> None:
    page = cv2.cvtColor(render(ENGLISH), cv2.COLOR_GRAY2BGR)
    before = page.copy()
    prepared = prepare(page, even_light=False, deskew=False, upscale=False)
    assert isinstance(prepared, Prepared)
    assert np.array_equal(prepared.image, to_gray(page))
    assert prepared.skew_degrees == 0.0 and prepared.scale == 1.0
    assert np.array_equal(page, before)
    assert not np.shares_memory(prepared.image, page)


def test_prepare_turns_a_dark_page_over_and_can_binarize() -> None:
    dark = cv2.bitwise_not(render(ENGLISH))
    prepared = prepare(dark, threshold=True)
    assert set(np.unique(prepared.image)) <= {0, 255}
    assert np.median(prepared.image) == 255  # white paper, black text


# --- quarter turns: a page read turned, its boxes mapped back to the upload ------------------


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_a_quarter_turn_moves_each_pixel_where_cv2_rotate_does(rotation: int) -> None:
    width, height = 7, 4
    for x, y in [(0, 0), (6, 0), (2, 3), (6, 3)]:
        image = np.zeros((height, width), np.uint8)
        image[y, x] = 255
        rotated = cv2.rotate(image, CLOCKWISE[rotation]) if rotation else image
        [[to_x, to_y]] = np.argwhere(rotated.T == 255)  # column, row
        corners = (
            np.array([[x, y, 1], [x + 1, y + 1, 1]], np.float64)
            @ quarter_turn(width, height, rotation).T
        )
        assert (corners.min(axis=0) == (to_x, to_y)).all()
        assert (corners.max(axis=0) == (to_x + 1, to_y + 1)).all()


def test_only_quarter_turns_are_taken() -> None:
    with pytest.raises(ValueError, match="rotation must be one of"):
        prepare(render(ENGLISH), rotation=45)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_prepare_turns_the_page_exactly_and_keeps_the_upload_size(rotation: int) -> None:
    page = lying(render(ENGLISH), rotation)
    prepared = prepare(page, rotation=rotation, even_light=False, deskew=False, upscale=False)
    assert np.array_equal(prepared.image, render(ENGLISH))  # upright, pixel for pixel
    assert prepared.rotation == rotation
    assert prepared.original_size == (page.shape[1], page.shape[0])
    assert prepared.to_original(ink_box(prepared.image)) == ink_box(page)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_boxes_map_back_through_the_turn_the_deskew_and_the_upscale(rotation: int) -> None:
    tilted = turned(render(PARAGRAPH, 11, 10), 4.0)
    page = lying(tilted, rotation)
    prepared = prepare(page, rotation=rotation)
    assert abs(prepared.skew_degrees - 4.0) <= 0.5 and prepared.scale > 1
    bx, by, bw, bh = prepared.to_original(ink_box(prepared.image))
    x, y, w, h = ink_box(page)
    assert abs(bx - x) <= 8 and abs(by - y) <= 8
    assert abs(bx + bw - x - w) <= 8 and abs(by + bh - y - h) <= 8
