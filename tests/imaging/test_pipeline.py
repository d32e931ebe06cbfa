"""The chain parser: both spellings, the text form, the whole chain checked before any pixel
work (names, parameters, sizes), output steps."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import pipeline
from pixelmill.imaging.ops.collage import CollageRequest, render_cell
from pixelmill.imaging.ops.output import OutputOptions
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
        (["resize=2"], [{"op": "resize", "factor": 2.0}]),
        ([{"op": "resize", "factor": 2}], [{"op": "resize", "factor": 2.0}]),
        ([{"op": "resize", "width": 640}], [{"op": "resize", "width": 640}]),
        (["split", "splitQuadrants=True", "split=1"], [{"op": "split"}] * 3),
        ([{"op": "splitQuadrants"}], [{"op": "split"}]),
        (["split=None", "split=false", "splitQuadrants=False", "grayscale"], [{"op": "grayscale"}]),
        (["autorotate=false", "autorotate=true"], [{"op": "autorotate"}]),
        (["crop=20x10+5+6"], [{"op": "crop", "x": 5, "y": 6, "width": 20, "height": 10}]),
        (["crop=20x10"], [{"op": "crop", "x": 0, "y": 0, "width": 20, "height": 10}]),
        ([{"op": "crop", "x": 3}], [{"op": "crop", "x": 3, "y": 0}]),
        (["rotate=-45"], [{"op": "rotate", "angle": -45.0}]),
        (["flip=both"], [{"op": "flip", "direction": "both"}]),
        (["brightness=-30"], [{"op": "brightness", "offset": -30.0, "factor": 1.0}]),
        (["contrast=1.5"], [{"op": "contrast", "factor": 1.5, "pivot": "middle"}]),
        (["threshold=0"], [{"op": "threshold", "value": 0}]),
        (["sharpen=2"], [{"op": "sharpen", "amount": 2.0, "radius": 1.0}]),
        (
            ["format=jpg", "format=PNG", "quality=1"],
            [
                {"op": "format", "format": "jpeg"},
                {"op": "format", "format": "png"},
                {"op": "quality", "quality": 1},
            ],
        ),
    ],
)
def test_accepted_chains(items: list[Any], normalized: list[dict[str, Any]]) -> None:
    assert [step.describe() for step in pipeline.parse(items)] == normalized


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (
            ["emboss"],
            r"operation 1: unknown operation 'emboss' \(known: autorotate, background, blur, .*"
            r"split \(splitQuadrants\)",
        ),
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
        (["resize=0.05"], "operation 1 \\(resize\\): factor: .*greater than 0.05"),
        (["resize=101"], "factor: .*less than or equal to 100"),
        (["resize=0"], "factor: .*greater than 0.05"),
        (["resize=nan"], "factor: "),
        (["resize=inf"], "factor: "),
        (["resize"], "operation 1 \\(resize\\): give a factor, or a width and/or a height"),
        ([{"op": "resize", "factor": 2, "width": 4}], "either a factor or a width/height"),
        ([{"op": "resize", "width": 0}], "width: .*greater than or equal to 1"),
        ([{"op": "resize", "height": 10**7}], "height: .*less than or equal to 1000000"),
        (["blur=4"], "kernel_size: kernel_size must be odd"),
        (["quality=0"], "operation 1 \\(quality\\): quality: .*greater than or equal to 1"),
        (["quality=101"], "quality: .*less than or equal to 100"),
        (["quality"], "quality: Field required"),
        (
            ["format=bmp"],
            "operation 1 \\(format\\): format: Input should be 'png', 'jpeg', 'webp', 'gif', "
            "'avif' or 'auto'",
        ),
        (["format"], "format: Field required"),
        (
            [{"op": "crop", "width": -3}],
            "operation 1 \\(crop\\): width: .*greater than or equal to 1",
        ),
        ([{"op": "crop", "x": -1}], "x: .*greater than or equal to 0"),
        (["crop=10x0+1+1"], "height: .*greater than or equal to 1"),
        (["crop=ten"], "geometry must be WIDTHxHEIGHT or WIDTHxHEIGHT\\+X\\+Y"),
        ([{"op": "crop", "geometry": "2x2", "x": 1}], "either geometry or x, y, width, height"),
        (["rotate"], "operation 1 \\(rotate\\): angle: Field required"),
        (["rotate=400"], "angle: .*less than or equal to 360"),
        ([{"op": "rotate", "angle": 9, "background": "red"}], "background: String should match"),
        (["flip=diagonal"], "direction: Input should be 'horizontal', 'vertical' or 'both'"),
        (["brightness=300"], "offset: .*less than or equal to 255"),
        ([{"op": "brightness", "factor": -1}], "factor: .*greater than or equal to 0"),
        (["contrast=-1"], "operation 1 \\(contrast\\): factor: .*greater than or equal to 0"),
        ([{"op": "contrast", "pivot": "median"}], "pivot: Input should be 'middle' or 'mean'"),
        (["threshold=256"], "value: .*less than or equal to 255"),
        (["threshold=12.5"], "value: .*valid integer"),
        ([{"op": "sharpen", "radius": 0}], "radius: .*greater than 0"),
        (["splitQuadrants", {"op": "split", "times": 2}], "operation 2 \\(split\\): times: Extra"),
        (["collage=yes"], "operation 1 \\(collage\\) takes no value"),
        ("resize=2", "operations must be a list"),
        ({"op": "resize"}, "operations must be a list"),
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


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("resize=0.5,grayscale,blur=5", ["resize=0.5", "grayscale", "blur=5"]),
        ("  resize=2 ,  split  ", ["resize=2", "split"]),
        ("grayscale", ["grayscale"]),
        (
            '["resize=2", {"op": "blur", "kernel_size": 3}]',
            ["resize=2", {"op": "blur", "kernel_size": 3}],
        ),
        ("  [ ]", []),
    ],
)
def test_text_form(text: str, items: list[Any]) -> None:
    assert pipeline.parse_text(text) == items


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("resize=2,,blur=5", "operation 2 is empty"),
        ("resize=2,", "operation 2 is empty"),
        (",resize=2", "operation 1 is empty"),
        ("grayscale, ,blur", "operation 2 is empty"),
        ("", "no operations given"),
        ("   ", "no operations given"),
        ('["resize=2",]', "not valid JSON: .* at line 1, column 13"),
        ('[\n "resize=2"\n "blur"]', "not valid JSON: Expecting ',' delimiter at line 3, column 2"),
        ('["resize=2"] x', "not valid JSON: Extra data"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_text_form_refusals_name_the_place(text: str, words: str) -> None:
    with pytest.raises(InvalidParameter, match=words):
        pipeline.parse_text(text)


def test_py_image_server_chain_makes_sixteen_images_in_quadrant_order() -> None:
    image = photo(64, 48, seed=3)
    steps = pipeline.parse(["splitQuadrants=True", "resize=2", "splitQuadrants=True", "resize=2"])
    results = pipeline.run(steps, [image])
    assert len(results) == 16
    assert all(result.shape == (48, 64, 3) for result in results)
    for i, result in enumerate(results):
        q1, q2 = divmod(i, 4)  # image i = 4 * q1 + q2; quadrants TL, TR, BL, BR
        x = (q1 % 2) * 32 + (q2 % 2) * 16
        y = (q1 // 2) * 24 + (q2 // 2) * 12
        expected = cv2.resize(image[y : y + 12, x : x + 16], (64, 48))
        assert np.abs(result.astype(np.int16) - expected).mean() < 3, i


def test_off_values_drop_the_split() -> None:
    image = photo(8, 6)
    for off in ("None", "false", "False"):
        steps = pipeline.parse([f"split={off}", f"splitQuadrants={off}"])
        assert steps == []
        (result,) = pipeline.run(steps, [image])
        assert np.array_equal(result, image)


def test_output_steps_are_skipped_by_run_and_read_by_output_options() -> None:
    image = photo(8, 6)
    steps = pipeline.parse(["format=png", "quality=30", "grayscale", "format=jpg", "quality=80"])
    (result,) = pipeline.run(steps, [image])
    assert result.shape == (6, 8)
    assert pipeline.output_options(steps) == OutputOptions(format="jpeg", quality=80)
    assert pipeline.output_options(pipeline.parse(["grayscale"])) == OutputOptions(None, None)
    assert pipeline.plan(pipeline.parse(["format=webp"]), (5, 4), 100) == [(5, 4)]


def test_plan_refuses_a_resize_past_the_limit_without_allocating() -> None:
    steps = pipeline.parse(["grayscale", "resize=2"])
    with pytest.raises(InvalidParameter) as caught:
        pipeline.plan(steps, (50_000, 37_500), max_pixels=100_000_000)
    assert caught.value.detail == (
        "operation 2 (resize): the result would be 100000×75000 = 7,500,000,000 pixels; "
        "the limit is 100,000,000"
    )
    # sizes no machine could hold are only numbers to plan
    with pytest.raises(InvalidParameter, match="the result would be 10000000000000×"):
        pipeline.plan(pipeline.parse(["resize=100"]), (10**11, 10**11), max_pixels=10**9)


def test_plan_names_the_position_as_written_when_steps_were_dropped() -> None:
    steps = pipeline.parse(["split=false", "blur=3", {"op": "resize", "width": 5000}])
    with pytest.raises(
        InvalidParameter, match=r"^operation 3 \(resize\): the result would be 5000×3750"
    ):
        pipeline.plan(steps, (64, 48), max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("chain", "size", "words"),
    [
        (
            ["split"],
            (1, 40),
            "operation 1 \\(split\\): split needs an image of at least 2×2 pixels "
            "to make four quadrants, got 1×40",
        ),
        (["split", "split"], (3, 3), "operation 2 \\(split\\): .*got 1×1"),
        (
            ["crop=10x10+64+0"],
            (64, 48),
            "operation 1 \\(crop\\): the region starts at x=64, y=0, outside the 64×48 image",
        ),
        (
            ["split"] * 5,
            (64, 64),
            "operation 5 \\(split\\): the chain would hold 1,024 images; the limit is 256",
        ),
        (
            ["split", "resize=2", "split", "resize=2"],
            (1000, 1000),
            "operation 4 \\(resize\\): the 16 images would hold 16,000,000 pixels in all; "
            "the limit for all images of a chain at once is 8,000,000",
        ),
        (["rotate=45"], (40_000, 10), "rotate by 45° works on images up to 32,766 pixels a side"),
    ],
)
def test_plan_refusals(chain: list[Any], size: tuple[int, int], words: str) -> None:
    with pytest.raises(InvalidParameter, match=words):
        pipeline.plan(pipeline.parse(chain), size, max_pixels=2_000_000)


def test_run_refuses_what_plan_refuses_when_called_without_it() -> None:
    with pytest.raises(InvalidParameter, match="operation 2 \\(split\\): split needs"):
        pipeline.run(pipeline.parse(["grayscale", "split"]), [np.zeros((1, 5), np.uint8)])
    with pytest.raises(InvalidParameter, match="operation 1 \\(crop\\): the region starts"):
        pipeline.run(pipeline.parse(["crop=1x1+9+9"]), [np.zeros((3, 3), np.uint8)])


def test_plan_with_collage_lays_out_the_fan_out() -> None:
    steps = pipeline.parse(["split", "collage"])
    planned = pipeline.plan(steps, (9, 7), max_pixels=1000)
    (result,) = pipeline.run(steps, [photo(9, 7)])
    assert planned == [(10, 8)] == [(result.shape[1], result.shape[0])]
