"""The operation table: one row per operation, what a user sees of it.

Each row is a chain item as users write it, an input image and a check of the results. Every
row is also run through `plan` (the sizes must be the ones `run` makes) and checked for the
input being left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytest

from pixelmill.imaging import pipeline
from pixelmill.imaging.ops import size_of
from pixelmill.imaging.registry import OPERATIONS
from tests.images import photo

Check = Callable[[np.ndarray, list[np.ndarray]], None]

RED = (0, 0, 255)


def bgr(height: int, width: int) -> np.ndarray:
    """Every pixel different: channel c of (y, x) is (y * width + x) * 3 + c, mod 256."""
    return (np.arange(height * width * 3).reshape(height, width, 3) % 256).astype(np.uint8)


def with_red(height: int, width: int, y: int, x: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[y, x] = RED
    return image


def levels(*values: int) -> np.ndarray:
    """A one-row gray image of the given levels."""
    return np.array([values], np.uint8)


def exactly(*expected: np.ndarray | Callable[[np.ndarray], np.ndarray]) -> Check:
    """The results are these arrays (or these functions of the input), bit for bit."""

    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        wanted = [e(image) if callable(e) else e for e in expected]
        assert len(results) == len(wanted)
        for result, want in zip(results, wanted, strict=True):
            assert result.dtype == np.uint8
            assert result.shape == want.shape
            assert np.array_equal(result, want)

    return check


def close_to(expected: Callable[[np.ndarray], np.ndarray], mean: float, peak: int = 255) -> Check:
    """One result, within `mean` levels on average and `peak` at worst of the expected image."""

    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        (result,) = results
        want = expected(image)
        assert result.shape == want.shape and result.dtype == np.uint8
        diff = np.abs(result.astype(np.int16) - want.astype(np.int16))
        assert diff.mean() <= mean and diff.max() <= peak

    return check


def shapes(*expected: tuple[int, ...]) -> Check:
    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        assert [r.shape for r in results] == list(expected)

    return check


def all_of(*checks: Check) -> Check:
    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        for one in checks:
            one(image, results)

    return check


def pixels(at: dict[tuple[int, ...], Any], index: int = 0) -> Check:
    """The values at the given (y, x[, c]) places of result `index`."""

    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        for place, value in at.items():
            assert np.array_equal(results[index][place], value), place

    return check


def only_levels(*allowed: int) -> Check:
    def check(image: np.ndarray, results: list[np.ndarray]) -> None:
        (result,) = results
        assert set(np.unique(result).tolist()) <= set(allowed)

    return check


def rotated_30_checks(image: np.ndarray, results: list[np.ndarray]) -> None:
    (result,) = results
    # bounding box of a 40×20 image turned 30°: 40·cos30 + 20·sin30 by 40·sin30 + 20·cos30
    assert result.shape == (37, 45)
    assert result[0, 0] == 0 and result[-1, -1] == 0  # uncovered corners: black
    assert abs(int(result[18, 22]) - 200) <= 1  # the middle stays where it was


def rotate_direction_checks(image: np.ndarray, results: list[np.ndarray]) -> None:
    """A dot at 3 o'clock, turned 60° clockwise, is found below and right of the centre."""
    (result,) = results
    y, x = np.unravel_index(int(result.argmax()), result.shape)
    centre = (result.shape[0] - 1) / 2
    assert abs(x - (centre + 15 * 0.5)) <= 1 and abs(y - (centre + 15 * 0.866)) <= 1


def sharpened_edge(image: np.ndarray, results: list[np.ndarray]) -> None:
    (result,) = results
    row = result[2].astype(int)
    assert row[0] == 100 and row[-1] == 150  # far from the edge: unchanged
    assert row[9] < 100 and row[10] > 150  # the edge overshoots on both sides


def blurred_dot(image: np.ndarray, results: list[np.ndarray]) -> None:
    (result,) = results
    assert result.shape == image.shape
    assert 0 < result[5, 5] < 255 and result[4, 5] > 0 and result[0, 0] == 0
    assert abs(int(result.sum()) - 255) <= 9  # the light is spread, not lost


def framed_bright_half(image: np.ndarray, results: list[np.ndarray]) -> None:
    (result,) = results
    assert result.shape == (20, 40, 3)
    red = np.all(result == RED, axis=-1)
    assert red[0, 20:].all() and red[:, 38:].all() and not red[:, :20].any()
    assert np.all(result[5:15, 2:18] == 30)  # the dark half is gray, unframed


def captioned_below(image: np.ndarray, results: list[np.ndarray]) -> None:
    (result,) = results
    height = image.shape[0]
    assert result.shape[0] > height and result.shape[1:] == image.shape[1:]
    assert np.array_equal(result[:height], image)  # the image is kept above the band
    band = result[height:]
    assert band.max() == 255 and (band == 0).mean() > 0.5  # white text on black
    assert np.array_equal(band[..., 0], band[..., 2])  # gray levels only


def gray_dot(height: int, width: int, y: int, x: int) -> np.ndarray:
    image = np.zeros((height, width), np.uint8)
    image[y, x] = 255
    return image


def edge() -> np.ndarray:
    image = np.full((5, 20), 100, np.uint8)
    image[:, 10:] = 150
    return image


def half_bright() -> np.ndarray:
    image = np.full((20, 40), 30, np.uint8)
    image[:, 20:] = 220
    return image


def bgra(height: int, width: int) -> np.ndarray:
    image = np.zeros((height, width, 4), np.uint8)
    image[..., :3] = bgr(height, width)
    image[..., 3] = 77
    return image


def smooth(width: int, height: int) -> np.ndarray:
    return cv2.GaussianBlur(photo(width, height, seed=7), (5, 5), 0)


def nearest_x2(image: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


@dataclass(frozen=True)
class Case:
    id: str
    item: str | dict[str, Any]
    image: np.ndarray
    check: Check


CASES = [
    # resize
    Case(
        "resize=2 doubles both sides",
        "resize=2",
        smooth(10, 6),
        all_of(shapes((12, 20, 3)), close_to(nearest_x2, mean=6)),
    ),
    Case(
        "resize=0.5 averages 2×2 blocks",
        "resize=0.5",
        np.kron(
            np.array([[10, 50, 90, 130, 170], [20, 60, 100, 140, 180]], np.uint8),
            np.ones((2, 2), np.uint8),
        ),
        exactly(np.array([[10, 50, 90, 130, 170], [20, 60, 100, 140, 180]], np.uint8)),
    ),
    Case(
        "resize width alone keeps the aspect",
        {"op": "resize", "width": 5},
        smooth(10, 6),
        shapes((3, 5, 3)),
    ),
    Case(
        "resize height alone keeps the aspect",
        {"op": "resize", "height": 12},
        smooth(10, 6),
        shapes((12, 20, 3)),
    ),
    Case(
        "resize width and height stretch",
        {"op": "resize", "width": 7, "height": 30},
        smooth(10, 6),
        shapes((30, 7, 3)),
    ),
    Case(
        "fit=2x2 cuts the middle square and scales it",
        "fit=2x2",
        bgr(4, 8),
        exactly(lambda i: cv2.resize(i[:, 2:6], (2, 2), interpolation=cv2.INTER_AREA)),
    ),
    Case("dpr=2 changes no pixel", "dpr=2", bgr(3, 4), exactly(lambda i: i)),
    Case("resize never below 1×1", "resize=0.06", smooth(10, 6), shapes((1, 1, 3))),
    Case(
        "resize keeps alpha",
        "resize=3",
        bgra(2, 2),
        all_of(shapes((6, 6, 4)), pixels({(0, 0, 3): 77, (5, 5, 3): 77})),
    ),
    # split
    Case(
        "split of 8×6 gives four 4×3 quadrants",
        "split",
        bgr(6, 8),
        exactly(lambda i: i[:3, :4], lambda i: i[:3, 4:], lambda i: i[3:, :4], lambda i: i[3:, 4:]),
    ),
    Case(
        "split of an odd size: left/top halves are floor(side / 2)",
        "splitQuadrants=True",
        bgr(5, 7),
        all_of(
            shapes((2, 3, 3), (2, 4, 3), (3, 3, 3), (3, 4, 3)),
            exactly(
                lambda i: i[:2, :3], lambda i: i[:2, 3:], lambda i: i[2:, :3], lambda i: i[2:, 3:]
            ),
        ),
    ),
    Case(
        "split of a 2×2 image gives four pixels",
        {"op": "split"},
        np.array([[1, 2], [3, 4]], np.uint8),
        exactly(*(np.array([[v]], np.uint8) for v in (1, 2, 3, 4))),
    ),
    # crop
    Case(
        "crop returns exactly the region",
        {"op": "crop", "x": 2, "y": 1, "width": 3, "height": 2},
        bgr(6, 8),
        exactly(lambda i: i[1:3, 2:5]),
    ),
    Case(
        "crop=WxH+X+Y clips at the image's edges",
        "crop=100x100+5+4",
        bgr(6, 8),
        exactly(lambda i: i[4:, 5:]),
    ),
    Case("crop=WxH from the top-left", "crop=3x2", bgr(6, 8), exactly(lambda i: i[:2, :3])),
    Case(
        "crop without a size goes to the edges",
        {"op": "crop", "x": 6, "y": 5},
        bgr(6, 8),
        exactly(lambda i: i[5:, 6:]),
    ),
    # rotate
    Case(
        "rotate=90 of 3×2 is 2×3, turned clockwise",
        "rotate=90",
        bgr(2, 3),
        all_of(
            shapes((3, 2, 3)),
            # the top-left pixel goes to the top-right corner, the top-right to the bottom-right
            pixels({(0, 1): [0, 1, 2], (2, 1): [6, 7, 8], (0, 0): [9, 10, 11]}),
            exactly(lambda i: np.rot90(i, k=-1)),
        ),
    ),
    Case("rotate=180", "rotate=180", bgr(2, 3), exactly(lambda i: i[::-1, ::-1])),
    Case("rotate=-90 is rotate=270", "rotate=-90", bgr(2, 3), exactly(lambda i: np.rot90(i))),
    Case("rotate=360 changes nothing", "rotate=360", bgr(2, 3), exactly(lambda i: i)),
    Case(
        "rotate=30 enlarges the canvas, black corners",
        "rotate=30",
        np.full((20, 40), 200, np.uint8),
        rotated_30_checks,
    ),
    Case(
        "rotate=60 turns clockwise",
        "rotate=60",
        gray_dot(41, 41, 20, 35),
        rotate_direction_checks,
    ),
    Case(
        "rotate fills the corners with the background, alpha included",
        {"op": "rotate", "angle": 45, "background": "#ff800040"},
        bgra(10, 10),
        all_of(
            shapes((14, 14, 4)), pixels({(0, 0): [0, 128, 255, 64], (13, 13): [0, 128, 255, 64]})
        ),
    ),
    Case(
        "rotate on gray fills with the background's luma",
        {"op": "rotate", "angle": 45, "background": "ffffff"},
        np.zeros((10, 10), np.uint8),
        pixels({(0, 0): 255, (7, 7): 0}),
    ),
    # flip
    Case(
        "flip moves a red pixel to the mirrored place",
        "flip",
        with_red(3, 5, 0, 1),
        exactly(with_red(3, 5, 0, 3)),
    ),
    Case("flip=vertical", "flip=vertical", with_red(3, 5, 0, 1), exactly(with_red(3, 5, 2, 1))),
    Case("flip=both", "flip=both", with_red(3, 5, 0, 1), exactly(with_red(3, 5, 2, 3))),
    # autorotate
    Case("autorotate changes nothing", "autorotate", bgr(3, 4), exactly(lambda i: i)),
    # colour and tone
    Case(
        "grayscale: BT.601 luma of red, green, blue",
        "grayscale",
        np.array([[RED, (0, 255, 0), (255, 0, 0), (255, 255, 255)]], np.uint8),
        exactly(levels(76, 150, 29, 255)),
    ),
    Case(
        "brightness=40 adds 40 and clips at 255",
        "brightness=40",
        levels(0, 10, 200, 215, 216, 255),
        exactly(levels(40, 50, 240, 255, 255, 255)),
    ),
    Case(
        "brightness=-20 clips at 0",
        "brightness=-20",
        levels(0, 10, 20, 21, 255),
        exactly(levels(0, 0, 0, 1, 235)),
    ),
    Case(
        "brightness factor multiplies first",
        {"op": "brightness", "factor": 2, "offset": 5},
        levels(0, 10, 100, 125, 200),
        exactly(levels(5, 25, 205, 255, 255)),
    ),
    Case(
        "brightness leaves alpha alone",
        "brightness=100",
        bgra(2, 2),
        all_of(pixels({(0, 0): [100, 101, 102, 77], (1, 1): [109, 110, 111, 77]})),
    ),
    Case(
        "contrast=2 doubles the distance from 128",
        "contrast=2",
        levels(0, 100, 128, 150, 200),
        exactly(levels(0, 72, 128, 172, 255)),
    ),
    Case(
        "contrast=0 is flat mid-gray",
        "contrast=0",
        levels(0, 90, 255),
        exactly(levels(128, 128, 128)),
    ),
    Case(
        "contrast around the mean",
        {"op": "contrast", "factor": 0.5, "pivot": "mean"},
        levels(10, 30),  # mean 20
        exactly(levels(15, 25)),
    ),
    Case(
        "threshold=100: strictly above is white, gray output",
        "threshold=100",
        levels(0, 99, 100, 101, 255),
        exactly(levels(0, 0, 0, 255, 255)),
    ),
    Case(
        "threshold on colour uses luma, gives only 0 and 255",
        "threshold",
        photo(30, 20, seed=4),
        all_of(shapes((20, 30)), only_levels(0, 255)),
    ),
    # filters
    Case("blur=5 spreads a dot", "blur=5", gray_dot(11, 11, 5, 5), blurred_dot),
    Case("blur=1 changes nothing", "blur=1", bgr(4, 4), exactly(lambda i: i)),
    Case(
        "blur=0 takes the kernel from sigma",
        {"op": "blur", "kernel_size": 0, "sigma": 1},
        gray_dot(11, 11, 5, 5),
        blurred_dot,
    ),
    Case("sharpen steepens an edge", "sharpen=1", edge(), sharpened_edge),
    Case("sharpen=0 changes nothing", "sharpen=0", bgr(4, 5), exactly(lambda i: i)),
    Case("sharpen keeps alpha", "sharpen=2", bgra(6, 6), pixels({(0, 0, 3): 77, (5, 5, 3): 77})),
    # grid and collage
    Case("grid frames bright segments", "grid=20", half_bright(), framed_bright_half),
    Case("caption adds a band with white text below", "caption=Hi", bgr(10, 40), captioned_below),
    Case("faces: no face, no pixel changed", "faces", smooth(60, 40), exactly(lambda i: i)),
    Case(
        "collage of one image is that image in colour",
        "collage",
        levels(5, 6, 7),
        exactly(np.array([[[5] * 3, [6] * 3, [7] * 3]], np.uint8)),
    ),
    Case("frame=0 of a still is the image", "frame=0", bgr(3, 4), exactly(lambda i: i)),
    # output steps change no pixel
    Case("format=webp changes no pixel", "format=webp", bgr(3, 4), exactly(lambda i: i)),
    Case("quality=50 changes no pixel", "quality=50", bgr(3, 4), exactly(lambda i: i)),
    Case(
        "background=#000000 changes no pixel", "background=#000000", bgr(3, 4), exactly(lambda i: i)
    ),
    Case("strip=false changes no pixel", "strip=false", bgr(3, 4), exactly(lambda i: i)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_operation(case: Case) -> None:
    before = case.image.copy()
    results = pipeline.run(pipeline.parse([case.item]), [case.image])
    case.check(case.image, results)
    assert all(result.dtype == np.uint8 for result in results)
    assert np.array_equal(case.image, before), "the input was changed"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_plan_predicts_the_sizes_run_makes(case: Case) -> None:
    steps = pipeline.parse([case.item])
    planned = pipeline.plan(steps, size_of(case.image), max_pixels=10**6)
    assert planned == [size_of(result) for result in pipeline.run(steps, [case.image])]


def test_every_operation_has_a_row() -> None:
    covered = {pipeline.parse([case.item])[0].op.name for case in CASES}
    assert covered == set(OPERATIONS)


# One plain item per operation, for the checks that hold for all of them.
SAMPLES = {
    "resize": "resize=1.5",
    "fit": "fit=5x4",
    "dpr": "dpr=2",
    "split": "split",
    "crop": "crop=3x2+1+1",
    "rotate": "rotate=33",
    "flip": "flip",
    "autorotate": "autorotate",
    "grayscale": "grayscale",
    "brightness": "brightness=20",
    "contrast": "contrast=1.5",
    "threshold": "threshold=90",
    "blur": "blur=3",
    "sharpen": "sharpen",
    "grid": "grid=2",
    "caption": "caption=Hi",
    "faces": "faces",
    "collage": "collage",
    "frame": "frame=0",
    "format": "format=jpg",
    "quality": "quality=80",
    "background": "background=#ff8000",
    "strip": "strip=false",
}
# The channels an operation makes from 1, 3 and 4 (alpha) channels, where it is about them:
# gray keeps alpha as BGRA with equal colour channels; drawing gives opaque BGR.
CHANNELS_ABOUT = {
    "grayscale": {1: 1, 3: 1, 4: 4},
    "threshold": {1: 1, 3: 1, 4: 4},
    "grid": {1: 3, 3: 3, 4: 3},
    "collage": {1: 3, 3: 3, 4: 3},
    "faces": {1: 3, 3: 3, 4: 3},
    "caption": {1: 1, 3: 3, 4: 3},
}


def test_samples_cover_the_registry() -> None:
    assert set(SAMPLES) == set(OPERATIONS)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channels_are_kept_unless_the_operation_is_about_them(name: str, channels: int) -> None:
    image = photo(9, 7, seed=channels)
    image = {1: image[..., 0].copy(), 3: image, 4: np.dstack([image, image[..., 1]])}[channels]
    before = image.copy()
    results = pipeline.run(pipeline.parse([SAMPLES[name]]), [image])
    want = CHANNELS_ABOUT.get(name, {channels: channels})[channels]
    for result in results:
        assert result.dtype == np.uint8
        assert (1 if result.ndim == 2 else result.shape[2]) == want
    assert np.array_equal(image, before)
