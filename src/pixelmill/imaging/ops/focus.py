"""Gravity: where a cover crop's window lands on the image.

    origin(image, window, gravity)  -> (x, y): the window's top-left corner in the image

- compass points and `center` (no pixel looked at), a focal point `fp:x:y` (fractions of width
  and height; the window is centred on it as far as the image allows);
- `face`: OpenCV's face detector (imaging/ops/faces.py) on a copy reduced to at most
  FACE_SIDE px (and, when no face with two eyes shows there on a larger image, on one of
  SMALL_FACE_SIDE px); faces where OpenCV's eye cascade finds two eyes count over others.
  The window keeps the union of every face whole when it can hold it (with a margin around
  the faces when that fits too), and is centred on the largest face otherwise. No face:
  `smart`.
- `smart`: a saliency map on a copy reduced to at most SMART_SIDE px, as libvips' attention
  crop does: edges (Laplacian of the luma), saturation and skin-tone likelihood, summed; the
  window with the largest sum (an integral image gives every window's sum at once), ties going
  to the one nearest the centre.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.data
import numpy as np

from pixelmill.errors import PixelmillError
from pixelmill.imaging import alpha
from pixelmill.imaging.ops import Size, size_of
from pixelmill.imaging.ops.color import to_bgr, to_gray
from pixelmill.imaging.ops.faces import Face, FacesParams, detect

# (x, y) of the window's anchor, as fractions of the room the window leaves free
COMPASS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "north": (0.5, 0.0),
    "south": (0.5, 1.0),
    "east": (1.0, 0.5),
    "west": (0.0, 0.5),
    "northeast": (1.0, 0.0),
    "northwest": (0.0, 0.0),
    "southeast": (1.0, 1.0),
    "southwest": (0.0, 1.0),
}
_FRACTION = r"(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+)"
GRAVITY_PATTERN = rf"^(?:{'|'.join(COMPASS)}|face|smart|fp:{_FRACTION}:{_FRACTION})$"
_FOCAL = re.compile(rf"fp:({_FRACTION}):({_FRACTION})")

FACE_SIDE = 640  # the detector's copy: Haar finds faces of 20 px and more on it
FACE_MIN_SIZE = 20  # the cascade's own window, in pixels of that copy
SMALL_FACE_SIDE = 1280  # the second look, for faces under 2% of a large image's long side
EYE_CASCADE = "haarcascade_eye.xml"
EYES_SIDE = 96  # a face's box is searched for eyes at this width
# Margin kept around the faces' union when the window holds it: a detector's box runs from
# the brows to the mouth, the head is larger (hair above, chin below).
FACE_MARGIN = (0.25, 0.45, 0.25, 0.3)  # left, top, right, bottom, in face widths/heights
SMART_SIDE = 256
_CENTRE_BIAS = 0.02  # a window's score loses this share per half-image off the centre


@dataclass(frozen=True)
class Box:
    """A rectangle in image pixels, right and bottom exclusive."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def origin(image: np.ndarray, window: Size, gravity: str) -> tuple[int, int]:
    """The top-left corner of a `window` (width, height) cut from `image` by `gravity`."""
    width, height = size_of(image)
    room = (width - window[0], height - window[1])
    if room == (0, 0):
        return 0, 0
    if gravity in COMPASS:
        fx, fy = COMPASS[gravity]
        return round(room[0] * fx), round(room[1] * fy)
    focal = _FOCAL.fullmatch(gravity)
    if focal is not None:
        x, y = float(focal[1]) * width, float(focal[2]) * height
        return _centred(x, y, window, (width, height))
    if gravity == "face":
        placed = _face_origin(image, window)
        if placed is not None:
            return placed
    return _smart_origin(image, window)


def faces_in(image: np.ndarray) -> list[Box]:
    """The faces of `image`, in image pixels.

    Found on a copy at most FACE_SIDE px long; when none of them shows two eyes and the image
    is larger, once more (finer steps) on a copy SMALL_FACE_SIDE px long, where a face too
    small for the first copy is still the cascade's 20 px. Faces with eyes are kept over
    those without: on the composed set every false face (a cat's fur, a cup's rim) had none.
    """
    width, height = size_of(image)
    looks = [(FACE_SIDE, 1.1)]
    if max(width, height) > FACE_SIDE:
        looks.append((SMALL_FACE_SIDE, 1.05))
    fallback: list[Box] = []
    for side, step in looks:
        scale = min(1.0, side / max(width, height))
        small = _reduced(image, scale)
        found = detect(small, FacesParams(min_size=FACE_MIN_SIZE, scale_factor=step))
        gray = to_gray(alpha.flatten(small))
        boxes = [
            (Box(f.x / scale, f.y / scale, (f.x + f.width) / scale, (f.y + f.height) / scale), f)
            for f in found
        ]
        with_eyes = [box for box, face in boxes if _has_eyes(gray, face)]
        if with_eyes:
            return with_eyes
        fallback = fallback or [box for box, _ in boxes]
    return fallback


def _has_eyes(gray: np.ndarray, face: Face) -> bool:
    """Whether the upper part of a face's box shows two eyes (OpenCV's eye cascade, on the
    box enlarged to EYES_SIDE px wide)."""
    top = gray[face.y : face.y + face.height * 6 // 10, face.x : face.x + face.width]
    if top.size == 0:
        return False
    scale = EYES_SIDE / face.width
    size = (EYES_SIDE, max(1, round(top.shape[0] * scale)))
    top = cv2.resize(top, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
    eyes = _eyes().detectMultiScale(cv2.equalizeHist(top), 1.1, 3, minSize=(12, 12))
    return len(eyes) >= 2


class _EyeCascades(threading.local):
    """This thread's eye cascade: an OpenCV cascade may not run two detections at once."""

    cascade: cv2.CascadeClassifier | None = None


_eye_cascades = _EyeCascades()


def _eyes() -> cv2.CascadeClassifier:
    if _eye_cascades.cascade is None:
        cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / EYE_CASCADE))
        if cascade.empty():
            raise PixelmillError(f"OpenCV's eye cascade {EYE_CASCADE} could not be loaded")
        _eye_cascades.cascade = cascade
    return _eye_cascades.cascade


def _face_origin(image: np.ndarray, window: Size) -> tuple[int, int] | None:
    faces = faces_in(image)
    if not faces:
        return None
    size = size_of(image)
    for margin in (FACE_MARGIN, (0.0, 0.0, 0.0, 0.0)):
        union = _union([_grown(face, margin, size) for face in faces])
        if union.width <= window[0] and union.height <= window[1]:
            return _centred(
                (union.left + union.right) / 2, (union.top + union.bottom) / 2, window, size
            )
    largest = max(faces, key=lambda face: face.width * face.height)
    return _centred(
        (largest.left + largest.right) / 2, (largest.top + largest.bottom) / 2, window, size
    )


def _smart_origin(image: np.ndarray, window: Size) -> tuple[int, int]:
    width, height = size_of(image)
    scale = min(1.0, SMART_SIDE / max(width, height))
    small = _reduced(image, scale)
    saliency = saliency_map(small)
    small_h, small_w = saliency.shape
    win_w = min(small_w, max(1, round(window[0] * scale)))
    win_h = min(small_h, max(1, round(window[1] * scale)))
    total = cv2.integral(saliency, sdepth=cv2.CV_64F)
    sums = (
        total[win_h:, win_w:]
        - total[:-win_h, win_w:]
        - total[win_h:, :-win_w]
        + total[:-win_h, :-win_w]
    )
    rows, cols = np.mgrid[: sums.shape[0], : sums.shape[1]].astype(np.float64)
    off_centre = np.hypot(
        (cols - (small_w - win_w) / 2) / max(small_w, 1),
        (rows - (small_h - win_h) / 2) / max(small_h, 1),
    )
    score = sums * (1 - _CENTRE_BIAS * 2 * off_centre)
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    room = (width - window[0], height - window[1])
    return (
        min(room[0], max(0, round(x / scale))),
        min(room[1], max(0, round(y / scale))),
    )


def saliency_map(image: np.ndarray) -> np.ndarray:
    """Float32 saliency of each pixel, 0-3: edges + saturation + skin likelihood, each 0-1."""
    bgr = to_bgr(alpha.flatten(image))
    luma = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    edges = np.abs(cv2.Laplacian(cv2.GaussianBlur(luma, (3, 3), 0), cv2.CV_32F, ksize=3))
    edges = np.minimum(edges * (1 / 64), 1)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    saturation = hsv[:, :, 1].astype(np.float32) * (1 / 255)
    saturation *= np.minimum(hsv[:, :, 2].astype(np.float32) * (1 / 64), 1)  # dark: none
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    # skin sits in a small ellipse of chroma (Cr about 150, Cb about 110), whatever the luma
    distance = np.hypot((ycrcb[:, :, 1] - 152) / 14, (ycrcb[:, :, 2] - 108) / 16)
    skin = np.clip(1.5 - distance, 0, 1) * (ycrcb[:, :, 0] > 50)
    saliency: np.ndarray = edges + saturation * 0.5 + skin.astype(np.float32) * 2
    return cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 1.5)


def _reduced(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1:
        return image
    width, height = size_of(image)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _centred(x: float, y: float, window: Size, size: Size) -> tuple[int, int]:
    """The window centred on (x, y), moved inside the image."""
    left = min(max(0, round(x - window[0] / 2)), size[0] - window[0])
    top = min(max(0, round(y - window[1] / 2)), size[1] - window[1])
    return left, top


def _grown(face: Box, margin: tuple[float, float, float, float], size: Size) -> Box:
    left, top, right, bottom = margin
    return Box(
        max(0.0, face.left - left * face.width),
        max(0.0, face.top - top * face.height),
        min(float(size[0]), face.right + right * face.width),
        min(float(size[1]), face.bottom + bottom * face.height),
    )


def _union(boxes: list[Box]) -> Box:
    return Box(
        min(box.left for box in boxes),
        min(box.top for box in boxes),
        max(box.right for box in boxes),
        max(box.bottom for box in boxes),
    )
