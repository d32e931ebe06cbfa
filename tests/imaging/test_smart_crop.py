"""`gravity=face` and `gravity=smart`: cover crops that keep faces whole, on composed photos
whose face boxes are known (bench/smartcrop.py builds the set)."""

from __future__ import annotations

import numpy as np
import pytest
from bench import smartcrop

from pixelmill.imaging import pipeline
from pixelmill.imaging.ops import focus

QUICK = smartcrop.scenes(quick=True)


def test_face_crops_keep_every_face_whole_in_99_percent_of_feasible_crops() -> None:
    with smartcrop.faces_found_once():
        face = smartcrop.measure(QUICK, smartcrop.ours("face"))
    centre = smartcrop.measure(QUICK, smartcrop.ours("center"))
    assert face.feasible >= 60
    assert face.share >= 0.99, face.missed
    assert centre.share < 0.8  # the set is hard: a centred crop cuts many faces


def test_a_face_near_the_edge_stays_whole_under_face_and_is_cut_by_center() -> None:
    (scene,) = [s for s in QUICK if s.name == "coffee-landscape-west-0.12"]
    (face,) = scene.faces
    height, width = scene.image.shape[:2]
    # a portrait crop of the landscape: the window is a third of the width
    steps = pipeline.parse(["fit=200x300:cover:face"])
    (result,) = pipeline.run(steps, [scene.image])
    assert result.shape == (300, 200, 3)
    window = (round(height * 200 / 300), height)
    scale = 300 / height
    # the face's pixels, cut from the source and scaled like the result, are in the result
    left, top, right, bottom = (round(v * scale) for v in face)
    expected = pipeline.run(pipeline.parse(["fit=200x300:cover:west"]), [scene.image])[0]
    assert (
        np.abs(result[top:bottom, left:right].astype(int) - expected[top:bottom, left:right]).mean()
        < 2
    )
    assert focus.origin(scene.image, window, "face")[0] <= face[0]
    centred = pipeline.run(pipeline.parse(["fit=200x300"]), [scene.image])[0]
    assert np.abs(centred.astype(int) - result).mean() > 10  # the centre crop is elsewhere
    assert (width - window[0]) // 2 > face[0]  # and it would have cut the face


def test_two_faces_that_one_window_holds_are_both_kept() -> None:
    scene = next(s for s in QUICK if "two" in s.name and len(s.faces) == 2)
    for box in smartcrop.BOXES:
        window = smartcrop.window_of(scene, box)
        if smartcrop.feasible(scene, window):
            assert smartcrop.whole(scene, window, focus.origin(scene.image, window, "face"))


def test_no_face_falls_back_to_smart() -> None:
    image = np.full((200, 600, 3), 128, np.uint8)
    image[80:120, 500:560] = (0, 0, 255)  # a vivid red patch, far right
    assert focus.faces_in(image) == []
    window = (200, 200)
    assert focus.origin(image, window, "face") == focus.origin(image, window, "smart")
    x, _ = focus.origin(image, window, "smart")
    assert x <= 500 and x + 200 >= 560


@pytest.mark.parametrize("gravity", ["face", "smart"])
def test_face_and_smart_work_on_gray_and_alpha(gravity: str) -> None:
    scene = QUICK[0]
    gray = scene.image[:, :, 1].copy()
    with_alpha = np.dstack([scene.image, np.full(gray.shape, 255, np.uint8)])
    for image in (gray, with_alpha):
        (result,) = pipeline.run(pipeline.parse([f"fit=120x80:cover:{gravity}"]), [image])
        assert result.shape[:2] == (80, 120) and result.shape[2:] == image.shape[2:]
