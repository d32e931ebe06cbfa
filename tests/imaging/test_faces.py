"""Faces: real faces found where they are, nothing found where there is none, frames drawn.

The photos are scikit-image's bundled samples (no download). The astronaut's face box was
read by eye off a 4× enlargement with a 10 px grid: the edge of her fringe to her chin,
cheek to cheek. A detector's box is square and sits a little higher (brow to lower lip), so
a found face counts when its IoU with that box is over 0.5.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from skimage import data

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import alpha, codec, pipeline
from pixelmill.imaging.ops.faces import Face, FacesParams, detect, draw, faces

ASTRONAUT_FACE = (182, 78, 86, 100)  # x, y, width, height in the 512×512 astronaut
GREEN = (0, 255, 0)
RED = (0, 0, 255)

Box = tuple[float, float, float, float]


def rgb_to_bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1])


def astronaut() -> np.ndarray:
    return rgb_to_bgr(data.astronaut())


def iou(face: Face, box: Box) -> float:
    x, y, w, h = box
    across = max(0.0, min(face.x + face.width, x + w) - max(face.x, x))
    down = max(0.0, min(face.y + face.height, y + h) - max(face.y, y))
    overlap = across * down
    return overlap / (face.width * face.height + w * h - overlap)


def scaled(box: Box, factor: float, dx: float = 0, dy: float = 0) -> Box:
    x, y, w, h = box
    return x * factor + dx, y * factor + dy, w * factor, h * factor


def assert_faces_at(found: list[Face], *boxes: Box) -> None:
    """One face per box, left to right, each overlapping its box by IoU > 0.5."""
    assert len(found) == len(boxes), found
    for face, box in zip(found, boxes, strict=True):
        assert iou(face, box) > 0.5, (face, box)


# detection


def test_the_astronauts_face_is_found() -> None:
    found = detect(astronaut(), FacesParams())
    assert_faces_at(found, ASTRONAUT_FACE)
    assert found[0].score is None  # the Haar cascade gives no confidence


def test_two_faces_side_by_side_are_both_found_left_to_right() -> None:
    image = astronaut()
    pair = np.concatenate([image, image[:, ::-1]], axis=1)
    x, y, w, h = ASTRONAUT_FACE
    assert_faces_at(detect(pair, FacesParams()), ASTRONAUT_FACE, (1024 - x - w, y, w, h))


def test_a_face_in_a_large_image_is_found_in_the_images_pixels() -> None:
    # 1920×1080 is searched on a copy shrunk to 1280 wide; the box must come back full size
    canvas = cv2.resize(rgb_to_bgr(data.coffee()), (1920, 1080))
    canvas[300:812, 1000:1512] = astronaut()
    assert_faces_at(detect(canvas, FacesParams()), scaled(ASTRONAUT_FACE, 1, dx=1000, dy=300))


def test_a_photo_taken_sideways_is_searched_upright_after_decoding() -> None:
    upright = astronaut()[:, :400]  # not square, so a wrong turn would show in the shape
    stored = np.rot90(upright)  # what the camera wrote; EXIF orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(stored[..., ::-1])).save(
        buffer, "JPEG", quality=95, exif=exif
    )
    payload = buffer.getvalue()

    decoded = codec.decode(payload, codec.sniff(payload, max_pixels=10**7))

    assert decoded.shape == upright.shape
    assert_faces_at(detect(decoded, FacesParams()), ASTRONAUT_FACE)
    # detection itself does not turn images: the sideways pixels hold no upright face
    assert detect(np.ascontiguousarray(stored), FacesParams()) == []


def test_a_small_face_is_found_unless_min_size_is_above_it() -> None:
    small = cv2.resize(astronaut(), None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    # the face is now about 34×40 px
    assert_faces_at(detect(small, FacesParams()), scaled(ASTRONAUT_FACE, 0.4))
    assert detect(small, FacesParams(min_size=50)) == []


def test_every_box_is_at_least_min_size() -> None:
    found = detect(astronaut(), FacesParams(min_size=90))
    assert found and all(min(face.width, face.height) >= 90 for face in found)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])  # a cup of coffee; a cat
def test_no_face_in_a_picture_without_people(name: str) -> None:
    assert detect(rgb_to_bgr(getattr(data, name)()), FacesParams()) == []


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_bgra_images_are_searched_too(channels: int) -> None:
    image = astronaut()
    image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2BGRA)
    assert_faces_at(detect(image, FacesParams()), ASTRONAUT_FACE)


def test_an_image_with_alpha_is_searched_and_framed_laid_over_white() -> None:
    # a cut-out: the astronaut's head on transparent pixels that hide her red-tinted suit
    image = cv2.cvtColor(astronaut(), cv2.COLOR_BGR2BGRA)
    image[:, :120, 3] = 0
    image[:, :120, :3] = RED
    image[:, 120:130, 3] = 128
    result = faces(image, FacesParams())
    assert result.shape == (512, 512, 3)
    assert (result[:, :120] == 255).all()  # transparent: white
    assert np.array_equal(result[:, 120:130], alpha.flatten(image)[:, 120:130])
    (face,) = detect(image, FacesParams())
    assert iou(face, ASTRONAUT_FACE) > 0.5
    assert (result[face.y, face.x : face.x + face.width] == GREEN).all()  # the frame's top


def test_tiny_images_give_no_face_and_no_error() -> None:
    assert detect(np.zeros((1, 1), np.uint8), FacesParams()) == []
    assert detect(np.zeros((7, 9, 3), np.uint8), FacesParams()) == []


def test_two_threads_detecting_at_once_find_what_one_finds_alone() -> None:
    image = astronaut()
    images = [image, np.concatenate([image, image[:, ::-1]], axis=1)] * 4
    alone = [detect(one, FacesParams()) for one in images]
    start = threading.Barrier(2)

    def work(indexes: range) -> list[list[Face]]:
        start.wait()
        return [detect(images[i], FacesParams()) for i in indexes]

    with ThreadPoolExecutor(2) as pool:
        evens = pool.submit(work, range(0, len(images), 2))
        odds = pool.submit(work, range(1, len(images), 2))
        together = [None] * len(images)
        together[0::2] = evens.result()
        together[1::2] = odds.result()
    assert together == alone


# drawing


def frame(shape: tuple[int, int], box: tuple[int, int, int, int], thickness: int) -> np.ndarray:
    """Boolean mask of the pixels of `box` within `thickness` of its edge, cut to `shape`."""
    x, y, w, h = box
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    inside = (rows >= y) & (rows < y + h) & (cols >= x) & (cols < x + w)
    near_edge = (
        (rows < y + thickness)
        | (rows >= y + h - thickness)
        | (cols < x + thickness)
        | (cols >= x + w - thickness)
    )
    mask: np.ndarray = inside & near_edge
    return mask


def noise(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (height, width, 3), np.uint8)


def test_draw_colours_exactly_the_frame_and_nothing_else() -> None:
    image = noise(60, 80)
    before = image.copy()
    params = FacesParams(box_color="#ff0000", thickness=3)
    boxes = [(10, 20, 30, 25), (50, 5, 20, 20)]

    out = draw(image, [Face(*box) for box in boxes], params)

    mask = frame((60, 80), boxes[0], 3) | frame((60, 80), boxes[1], 3)
    assert np.all(out[mask] == RED)
    assert np.array_equal(out[~mask], image[~mask])
    assert np.array_equal(image, before), "the input was changed"


def test_a_box_over_the_edge_is_clipped() -> None:
    image = noise(40, 50)
    boxes = [(-5, -6, 20, 20), (40, 30, 30, 30)]
    out = draw(image, [Face(*box) for box in boxes], FacesParams(thickness=2))
    mask = frame((40, 50), boxes[0], 2) | frame((40, 50), boxes[1], 2)
    assert np.all(out[mask] == GREEN)
    assert np.array_equal(out[~mask], image[~mask])
    # the first box's top and left edges are outside: its row 0 holds only the right edge
    assert np.flatnonzero(mask[0]).tolist() == [13, 14] and mask[13, 0:15].all()


def test_a_box_outside_the_image_draws_nothing() -> None:
    image = noise(10, 10)
    out = draw(image, [Face(20, 20, 5, 5), Face(-10, 0, 10, 10)], FacesParams())
    assert np.array_equal(out, image)


def test_a_box_thinner_than_two_frames_is_filled() -> None:
    out = draw(noise(20, 20), [Face(5, 5, 3, 8)], FacesParams(thickness=2))
    assert np.all(out[5:13, 5:8] == GREEN)


@pytest.mark.parametrize(("width", "height", "expected"), [(512, 512, 2), (1920, 1080, 4)])
def test_the_default_thickness_grows_with_the_image(width: int, height: int, expected: int) -> None:
    out = draw(np.zeros((height, width, 3), np.uint8), [Face(100, 100, 50, 50)], FacesParams())
    column = np.all(out[125, 100:125] == GREEN, axis=-1)
    assert column.sum() == expected and column[:expected].all()


def test_gray_images_come_back_in_colour_with_the_box_colour() -> None:
    gray = np.full((20, 30), 77, np.uint8)
    out = draw(gray, [Face(2, 2, 10, 10)], FacesParams(box_color="0000ff", thickness=1))
    assert out.shape == (20, 30, 3)
    assert tuple(out[2, 5]) == (255, 0, 0) and tuple(out[15, 20]) == (77, 77, 77)


def test_faces_frames_the_found_faces() -> None:
    image = astronaut()
    pair = np.concatenate([image, image[:, ::-1]], axis=1)
    params = FacesParams()
    out = faces(pair, params)
    found = detect(pair, params)
    mask = np.zeros(pair.shape[:2], bool)
    for face in found:
        mask |= frame(pair.shape[:2], (face.x, face.y, face.width, face.height), 2)
    assert len(found) == 2
    assert np.all(out[mask] == GREEN) and np.array_equal(out[~mask], pair[~mask])


# parameters, the model file, the pipeline


def test_a_missing_model_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "yunet.onnx")
    with pytest.raises(InvalidParameter, match=r"yunet\.onnx.*does not exist"):
        detect(astronaut(), FacesParams(model=missing))


def test_a_model_that_is_not_an_onnx_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"must end in \.onnx"):
        detect(astronaut(), FacesParams(model="/etc/hostname"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(InvalidParameter, match=r"junk\.onnx.*not a face detection model"):
        detect(astronaut(), FacesParams(model=str(junk)))


def test_a_missing_model_is_refused_when_the_chain_is_planned(tmp_path: Path) -> None:
    steps = pipeline.parse(["grayscale", {"op": "faces", "model": str(tmp_path / "no.onnx")}])
    with pytest.raises(InvalidParameter, match=r"operation 2 \(faces\): model file"):
        pipeline.plan(steps, (512, 512), max_pixels=10**7)


def test_faces_in_a_chain_with_min_size_as_its_value() -> None:
    (step,) = pipeline.parse(["faces=40"])
    assert step.params == FacesParams(min_size=40)
    (out,) = pipeline.run(pipeline.parse(["faces"]), [astronaut()])
    assert np.all(out == GREEN, axis=-1).sum() > 300


@pytest.mark.parametrize(
    "bad",
    [
        {"scale_factor": 1.0},
        {"scale_factor": 2.5},
        {"min_size": 0},
        {"min_neighbors": -1},
        {"box_color": "green"},
        {"thickness": 0},
        {"score_threshold": 1.5},
        {"colour": "#ffffff"},
    ],
)
def test_parameters_out_of_range_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FacesParams.model_validate(bad)
