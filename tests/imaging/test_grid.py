"""The segment grid against an independent computation: OpenCV means and rectangles per segment."""

from __future__ import annotations

import numpy as np
import pytest

from pixelmill.imaging.ops.collage import CollageRequest, render_cell
from pixelmill.imaging.ops.grid import GridParams, grid
from tests.images import blocks, expected_cell, photo

RED = np.array([0, 0, 255], np.uint8)


def framed(out: np.ndarray) -> np.ndarray:
    return np.all(out == RED, axis=-1)


def test_bright_blocks_get_frames_and_dark_ones_do_not() -> None:
    gray = blocks(100, 150, 50, [[200, 20, 200], [20, 200, 20]])
    out = grid(gray, GridParams(segment_size=50, threshold=100))
    # bright: (0,0), (0,2), (1,1); their frames are 2 px wide, inside the segment
    for row, col in [(0, 0), (0, 2), (1, 1)]:
        y, x = row * 50, col * 50
        seg = framed(out[y : y + 50, x : x + 50])
        assert seg[:2].all() and seg[-2:].all() and seg[:, :2].all() and seg[:, -2:].all()
        assert not seg[2:-2, 2:-2].any()
        assert np.all(out[y + 2 : y + 48, x + 2 : x + 48] == 200)  # the inside stays gray
    for row, col in [(0, 1), (1, 0), (1, 2)]:
        y, x = row * 50, col * 50
        assert not framed(out[y : y + 50, x : x + 50]).any()
    assert np.array_equal(out, expected_cell(gray, 1, 50, 100))


def test_mean_equal_to_threshold_is_not_marked() -> None:
    gray = np.full((40, 40), 100, np.uint8)
    assert not framed(grid(gray, GridParams(segment_size=20, threshold=100))).any()
    assert framed(grid(gray, GridParams(segment_size=20, threshold=99.5))).any()


def test_transparent_segments_count_as_white_and_the_result_is_opaque() -> None:
    image = np.zeros((40, 80, 4), np.uint8)
    image[:, :40] = (20, 20, 20, 255)  # a dark, opaque half
    image[:, 40:] = (0, 0, 0, 0)  # black hidden under a transparent half
    out = grid(image, GridParams(segment_size=40, threshold=100))
    assert out.shape == (40, 80, 3)
    assert not framed(out[:, :40]).any() and (out[:, :40] == 20).all()
    right = framed(out[:, 40:])
    assert right[:2].all() and right[:, -2:].all()  # framed: seen as white
    assert (out[2:-2, 42:-2] == 255).all()  # the inside is white


CASES = [
    # (height, width, segment, kernel, threshold, thickness)
    pytest.param(107, 93, 25, 5, 100, 2, id="partial-last-row-and-column"),
    pytest.param(64, 48, 1, 3, 120, 2, id="1px-segments"),
    pytest.param(64, 48, 3, 1, 128, 2, id="segments-thinner-than-two-frames"),
    pytest.param(300, 200, 10_000, 5, 60, 2, id="huge-segment-one-frame"),
    pytest.param(300, 200, 2**31 - 1, 5, 60, 2, id="largest-segment-size"),
    pytest.param(120, 80, 17, 31, 90, 4, id="big-kernel-thick-frame"),
    pytest.param(1, 1, 1, 1, 0, 2, id="one-pixel-image"),
    pytest.param(5, 400, 7, 255, 100, 2, id="kernel-larger-than-image"),
]


@pytest.mark.parametrize(("height", "width", "segment", "kernel", "threshold", "thick"), CASES)
@pytest.mark.parametrize("bands", [1, 2, 7])
def test_cell_matches_independent_computation(
    height: int, width: int, segment: int, kernel: int, threshold: float, thick: int, bands: int
) -> None:
    gray = photo(width, height, seed=height + width)[..., 1].copy()
    params = CollageRequest(
        kernel_size=kernel,
        segment_size=segment,
        brightness_threshold=threshold,
        frame_thickness=thick,
    )
    out = np.zeros((height, width, 3), np.uint8)
    render_cell(gray, out, params, bands=bands)
    expected = expected_cell(gray, kernel, min(segment, 10**6), threshold, thick)
    assert np.array_equal(out, expected)


def test_every_non_frame_pixel_is_gray() -> None:
    gray = photo(200, 150, seed=1)[..., 0].copy()
    out = np.zeros((150, 200, 3), np.uint8)
    render_cell(gray, out, CollageRequest(segment_size=20, brightness_threshold=90), bands=3)
    red = framed(out)
    assert red.any() and not red.all()
    rest = out[~red]
    assert np.all(rest[:, 0] == rest[:, 1]) and np.all(rest[:, 1] == rest[:, 2])
