"""Faces: find them, and frame each one on the image.

    detect(image, params)         -> [Face]: boxes in the image's pixels, left to right
    draw(image, faces, params)    -> a BGR copy of the image with a frame on each box
    faces(image, params)          -> draw(image, detect(image, params), params): the operation

Detection runs on the image as it is given: decoding has already turned it upright by its
EXIF orientation (the Haar cascade does not find a sideways face). Two detectors, run by
OpenCV, nothing downloaded:

- Haar cascade (the default): OpenCV's `haarcascade_frontalface_alt2.xml`, from the
  opencv-python-headless wheel. Frontal faces only. It gives no confidence, so `score` is
  None (its level weights are not a probability, and would mean another thing than YuNet's).
  Its settings and why, measured on scikit-image's sample images (the astronaut; 100 LFW
  faces; 18 face-free pictures, at their size and enlarged to 1920×1080):
  - alt2, not `_default`: the same faces found (astronaut IoU 0.72 with a box read by eye,
    90 of 100 LFW faces at 40 px), but 2 false positives on the 36 face-free pictures
    where `_default` gave 23.
  - The gray image is histogram-equalized: on faces darkened to a quarter of their levels
    it finds 98 of 100 instead of 73; CLAHE (2.0, 8×8) found fewer small faces (80 of 100
    at 40 px against 90).
  - scale_factor 1.1 and min_neighbors 5 (counted without the shrinking below): 1.05 gave
    20 false positives against 8 and 3 neighbours 19, finding no more LFW faces; 6
    neighbours gave 5 but found 86 LFW faces at 40 px instead of 90.
  - Images longer than MAX_DETECT_SIDE are searched on a copy shrunk to it and the boxes
    scaled back: 1920×1080 in 0.3 s instead of 0.4 s, and 1 false positive on the enlarged
    face-free pictures instead of 7. At 1280 a 30 px face of a 1920 px image is still 20 px,
    the cascade's window; on larger images faces under 20 px × (longest side / 1280) are
    missed.
- YuNet (`model`: a path to its ONNX file): OpenCV's FaceDetectorYN, a small CNN that also
  finds turned and tilted faces and gives a score from 0 to 1. Run on the BGR image, shrunk
  the same way, without equalization.

Boxes are clipped to the image, and a box narrower or shorter than `min_size` is dropped
(so both detectors keep the same promise). Detectors are loaded once per thread and per
file: neither OpenCV class may run two detections at once on one instance, and a load is
cheap (6 ms for the cascade) next to a detection (60 ms for 512×512).

Frames are drawn inside each box (`thickness` px inwards from its edge; a box thinner than
two frames is filled), in `box_color` exactly; parts of a box outside the image are not
drawn. Gray and BGRA images come back as BGR, so the frames can have their colour; an image
with alpha is searched and drawn on laid over white (what a viewer would see).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.data
import numpy as np
from pydantic import Field

from pixelmill.errors import InvalidParameter, PixelmillError
from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams, Size
from pixelmill.imaging.ops.color import to_bgr, to_gray

CASCADE = "haarcascade_frontalface_alt2.xml"
MAX_DETECT_SIDE = 1280
MODEL_SUFFIX = ".onnx"
_HEX_RGB = r"^#?[0-9a-fA-F]{6}$"


class FacesParams(OpParams):
    """Find faces and frame each one."""

    min_size: int = Field(
        30,
        ge=1,
        le=100_000,
        description="Smallest face to find, in pixels a side; smaller boxes are dropped. "
        f"On images longer than {MAX_DETECT_SIDE:,} px the Haar cascade misses faces under "
        f"20 px × (longest side / {MAX_DETECT_SIDE:,}) whatever this says.",
    )
    scale_factor: float = Field(
        1.1,
        ge=1.01,
        le=2.0,
        description="Haar cascade: how much the search window grows at each step; smaller "
        "finds more faces and more false ones, and takes longer.",
    )
    min_neighbors: int = Field(
        5,
        ge=0,
        le=100,
        description="Haar cascade: how many overlapping hits a face needs; higher gives "
        "fewer false faces and misses more real ones.",
    )
    box_color: str = Field(
        "#00ff00",
        pattern=_HEX_RGB,
        description="Colour of the frames, #RRGGBB.",
    )
    thickness: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Frame thickness in pixels, drawn inside the box; none: 2 px, or the "
        "longest side / 500 when that is more (4 px on 1920×1080).",
    )
    model: str | None = Field(
        None,
        max_length=4096,
        description="Path of a YuNet face detection model (.onnx) to use instead of the Haar "
        "cascade; it finds turned faces too and gives each a score. A missing or unreadable "
        "file is refused.",
    )
    score_threshold: float = Field(
        0.9,
        ge=0,
        le=1,
        description="YuNet: the lowest score a face may have to be kept.",
    )


@dataclass(frozen=True)
class Face:
    """A face's box in the image's pixels; `score` is YuNet's (0-1), None for Haar."""

    x: int
    y: int
    width: int
    height: int
    score: float | None = None


def detect(image: np.ndarray, params: FacesParams) -> list[Face]:
    """The faces in `image` (gray, BGR, or BGRA laid over white), left to right."""
    image = alpha.flatten(image)
    height, width = image.shape[:2]
    scale = min(1.0, MAX_DETECT_SIDE / max(width, height))
    if params.model is None:
        found = _haar(_shrunk(to_gray(image), scale), params, scale)
    else:
        found = _yunet(_shrunk(to_bgr(image), scale), params.model, params.score_threshold)
    faces = [_in_image(face, scale, width, height) for face in found]
    kept = [face for face in faces if min(face.width, face.height) >= params.min_size]
    return sorted(kept, key=lambda face: (face.x, face.y))


def draw(image: np.ndarray, faces: Sequence[Face], params: FacesParams) -> np.ndarray:
    """A BGR copy of `image` (BGRA laid over white) with a frame in `box_color` inside each
    face's box."""
    out = to_bgr(alpha.flatten(image)).copy()
    height, width = out.shape[:2]
    colour = _bgr(params.box_color)
    t = params.thickness or max(2, round(max(width, height) / 500))
    for face in faces:
        left, top = face.x, face.y
        right, bottom = face.x + face.width, face.y + face.height  # exclusive
        inner_top, inner_bottom = min(top + t, bottom), max(bottom - t, top)
        for y0, y1, x0, x1 in (
            (top, inner_top, left, right),
            (inner_bottom, bottom, left, right),
            (top, bottom, left, min(left + t, right)),
            (top, bottom, max(right - t, left), right),
        ):
            y0, y1 = max(y0, 0), min(y1, height)
            x0, x1 = max(x0, 0), min(x1, width)
            if y0 < y1 and x0 < x1:
                out[y0:y1, x0:x1] = colour
    return out


def faces(image: np.ndarray, params: FacesParams) -> np.ndarray:
    return draw(image, detect(image, params), params)


def faces_sizes(size: Size, params: FacesParams) -> list[Size]:
    """The size is kept; a `model` that is not a readable file is refused here, before decoding."""
    if params.model is not None:
        _model_file(params.model)
    return [size]


class _Detectors(threading.local):
    """This thread's detectors, by file."""

    def __init__(self) -> None:
        self.cascades: dict[str, cv2.CascadeClassifier] = {}
        self.yunets: dict[str, cv2.FaceDetectorYN] = {}


_detectors = _Detectors()


def _haar(gray: np.ndarray, params: FacesParams, scale: float) -> list[Face]:
    cascade = _cascade(CASCADE)
    # rounded down, so no face of min_size is lost to rounding; `detect` drops smaller boxes
    side = max(1, int(params.min_size * scale))
    boxes = cascade.detectMultiScale(
        cv2.equalizeHist(gray),
        scaleFactor=params.scale_factor,
        minNeighbors=params.min_neighbors,
        minSize=(side, side),
    )
    return [Face(int(x), int(y), int(w), int(h)) for x, y, w, h in boxes]


def _yunet(bgr: np.ndarray, model: str, score_threshold: float) -> list[Face]:
    detector = _yunet_detector(str(_model_file(model)))
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    detector.setScoreThreshold(score_threshold)
    _, rows = detector.detect(np.ascontiguousarray(bgr))
    if rows is None:
        return []
    # each row: x, y, w, h, five landmarks (x, y), score
    return [
        Face(round(row[0]), round(row[1]), round(row[2]), round(row[3]), float(row[14]))
        for row in np.asarray(rows)
    ]


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = _detectors.cascades.get(name)
    if cascade is None:
        cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
        if cascade.empty():
            raise PixelmillError(f"OpenCV's face cascade {name} could not be loaded")
        _detectors.cascades[name] = cascade
    return cascade


def _yunet_detector(path: str) -> cv2.FaceDetectorYN:
    detector = _detectors.yunets.get(path)
    if detector is None:
        try:
            detector = cv2.FaceDetectorYN.create(path, "", (320, 320))
        except cv2.error:
            raise InvalidParameter(
                f"model {_quoted(path)} is not a face detection model OpenCV can read"
            ) from None
        _detectors.yunets[path] = detector
    return detector


def _model_file(model: str) -> Path:
    """The model's path, checked: an .onnx name (never /dev/zero or a FIFO) and a file."""
    path = Path(model).expanduser()
    if path.suffix.lower() != MODEL_SUFFIX:
        raise InvalidParameter(
            f"model {_quoted(model)} is not a YuNet model: the name must end in {MODEL_SUFFIX}"
        )
    if not path.is_file():
        raise InvalidParameter(f"model file {_quoted(model)} does not exist")
    return path


def _shrunk(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _in_image(face: Face, scale: float, width: int, height: int) -> Face:
    """A box found on the shrunk copy, in the image's pixels and clipped to the image."""
    x0 = min(max(round(face.x / scale), 0), width)
    y0 = min(max(round(face.y / scale), 0), height)
    x1 = min(max(round((face.x + face.width) / scale), 0), width)
    y1 = min(max(round((face.y + face.height) / scale), 0), height)
    return Face(x0, y0, x1 - x0, y1 - y0, face.score)


def _bgr(colour: str) -> tuple[int, int, int]:
    digits = colour.removeprefix("#")
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return blue, green, red


def _quoted(text: str, limit: int = 120) -> str:
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"
