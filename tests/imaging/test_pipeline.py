"""The chain parser: both spellings, the whole chain validated before any pixel work."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import pipeline
from pixelmill.imaging.ops.collage import CollageRequest, render_cell
from tests.images import photo


@pytest.mark.parametrize(
    ("items", "normalized"),
    [
        (["grayscale"], [{"op": "grayscale"}]),
        (["blur=7"], [{"op": "blur", "kernel_size": 7, "sigma": 0.0}]),
        (["blur=0"], [{"op": "blur", "kernel_size": 0, "sigma": 0.0}]),
        (
            [{"op": "blur", "kernel_size": 3, "sigma": 1.5}],
            [{"op": "blur", "kernel_size": 3, "sigma": 1.5}],
        ),
        (["grid=20"], [{"op": "grid", "segment_size": 20, "threshold": 100.0, "thickness": 2}]),
        ([" blur = 9 "], [{"op": "blur", "kernel_size": 9, "sigma": 0.0}]),
        (["collage"], [{"op": "collage"}]),
        ([], []),
    ],
)
def test_accepted_chains(items: list[Any], normalized: list[dict[str, Any]]) -> None:
    assert [step.describe() for step in pipeline.parse(items)] == normalized


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (["sharpen"], "operation 1: unknown operation 'sharpen'"),
        (["grayscale", "blur=4"], "operation 2 \\(blur\\): kernel_size: kernel_size must be odd"),
        (["blur=abc"], "operation 1 \\(blur\\): kernel_size: .*valid integer"),
        (["blur=257"], "operation 1 \\(blur\\): kernel_size: .*less than or equal to 255"),
        (["blur=-1"], "kernel_size: .*greater than or equal to 0"),
        (["grayscale=3"], "operation 1 \\(grayscale\\) takes no value"),
        ([{"op": "blur", "radius": 3}], "radius: Extra inputs are not permitted"),
        ([{"kernel_size": 3}], 'operation 1 has no "op"'),
        ([42], "operation 1 must be a string or an object, got int"),
        (["grid=0"], "segment_size: .*greater than or equal to 1"),
        ([{"op": "grid", "threshold": 300}], "threshold: .*less than or equal to 255"),
        (["blur"] * 65, "too many operations: 65"),
    ],
)
def test_refused_chains_name_the_problem(items: list[Any], words: str) -> None:
    with pytest.raises(InvalidParameter, match=words):
        pipeline.parse(items)


def test_a_bad_item_anywhere_stops_the_chain_before_pixel_work() -> None:
    with pytest.raises(InvalidParameter, match="operation 3"):
        pipeline.parse(["grayscale", "blur=5", "nope", "collage"])


def test_chain_runs_left_to_right_and_equals_the_fast_collage_path() -> None:
    images = [photo(90, 70, seed=1), photo(60, 80, seed=2)]
    steps = pipeline.parse(
        ["grayscale", "blur=5", {"op": "grid", "segment_size": 15, "threshold": 110}, "collage"]
    )
    (result,) = pipeline.run(steps, images)
    assert result.shape == (80, 180, 3)
    params = CollageRequest(kernel_size=5, segment_size=15, brightness_threshold=110)
    for image, x in zip(images, (0, 90), strict=True):
        cell = np.zeros((*image.shape[:2], 3), np.uint8)
        (gray,) = pipeline.run(steps[:1], [image])
        render_cell(gray, cell, params, bands=3)
        assert np.array_equal(result[: image.shape[0], x : x + image.shape[1]], cell)
