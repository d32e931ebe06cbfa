"""What `/info` says about an image: its header's facts, and what a reduced copy shows.

    describe(data, info) -> Description: size, format, orientation, alpha, ICC, frames,
                            faces, dominant colour and blurhash

`info` is `codec.sniff`'s (the caller has checked the limits with it). `orientation` is the
EXIF orientation the file states (an iPhone HEIC's 6, although libheif turns its pixels
upright itself and `info` then has nothing left to apply); `width` and `height` are upright.
The pixels are read
once, on a copy at most WORK_SIDE px long (a JPEG is decoded straight at 1/2-1/8 when that
is enough), upright and, for an animation, its first frame as shown:

- faces: `ops.focus.faces_in`, the detector `gravity=face` uses (a 640 px copy, a second
  look at 1280 px for small faces), so /info shows the faces a face crop keeps; boxes in
  pixels of the upright image;
- dominant colour: the most common colour of a 64 px copy laid over white, counted in
  32-level buckets per channel (so a photo's noise and gradients fall into one) and given as
  the mean of the pixels in the fullest bucket;
- blurhash: 4×3 components of a copy at most 32 px long laid over white, with blurhash-py
  (which gives the reference algorithm's strings; pyproject.toml says how it was chosen).
"""

from __future__ import annotations

import io
from typing import TypedDict

import blurhash_py
import cv2
import numpy as np
from PIL import Image

from pixelmill.imaging import alpha, codec
from pixelmill.imaging.ops.color import to_bgr
from pixelmill.imaging.ops.focus import SMALL_FACE_SIDE, faces_in

WORK_SIDE = SMALL_FACE_SIDE  # the face detector's largest look
COLOUR_SIDE = 64
BUCKET_SHIFT = 5  # 256 levels >> 5: 8 buckets per channel, 512 in all
BLURHASH_SIDE = 32
BLURHASH_COMPONENTS = (4, 3)


class FaceBox(TypedDict):
    x: int
    y: int
    width: int
    height: int


class Description(TypedDict):
    width: int
    height: int
    format: str
    orientation: int
    has_alpha: bool
    icc: str | None
    animated: bool
    frames: int
    faces: list[FaceBox]
    dominant_color: str
    blurhash: str


def describe(data: bytes, info: codec.ImageInfo, *, name: str = "image") -> Description:
    """The facts of an image whose header `info` is; decodes one reduced copy."""
    work = _work_copy(data, info, name)
    colour = to_bgr(alpha.flatten(work))
    return {
        "width": info.width,
        "height": info.height,
        "format": info.format.lower(),
        "orientation": _stated_orientation(data, info),
        "has_alpha": info.alpha,
        "icc": info.icc,
        "animated": info.frames > 1,
        "frames": info.frames,
        "faces": _faces(work, info.width / work.shape[1], info),
        "dominant_color": dominant_color(colour),
        "blurhash": blurhash(colour),
    }


def dominant_color(image: np.ndarray) -> str:
    """`#rrggbb`: the mean of the pixels in the fullest colour bucket of a small BGR copy."""
    pixels = _reduced(image, COLOUR_SIDE).reshape(-1, 3)
    buckets = pixels >> BUCKET_SHIFT
    index = (buckets[:, 0].astype(np.int32) << 6) | (buckets[:, 1] << 3) | buckets[:, 2]
    fullest = int(np.argmax(np.bincount(index, minlength=512)))
    blue, green, red = (round(v) for v in pixels[index == fullest].mean(axis=0))
    return f"#{red:02x}{green:02x}{blue:02x}"


def blurhash(image: np.ndarray) -> str:
    """The blurhash (4×3 components) of a BGR image, from a copy at most 32 px long."""
    rgb = cv2.cvtColor(_reduced(image, BLURHASH_SIDE), cv2.COLOR_BGR2RGB)
    return str(blurhash_py.encode(Image.fromarray(rgb), *BLURHASH_COMPONENTS))


def _work_copy(data: bytes, info: codec.ImageInfo, name: str) -> np.ndarray:
    """The upright image at most WORK_SIDE px long (BGRA when it has alpha)."""
    scale = 1
    if info.format == "JPEG":
        scale = next(
            (s for s in codec.JPEG_SCALES if max(codec.reduced_size(info, s)) >= WORK_SIDE), 1
        )
    return _reduced(codec.decode(data, info, "keep", name, scale), WORK_SIDE)


def _stated_orientation(data: bytes, info: codec.ImageInfo) -> int:
    """The orientation the file states: pillow-heif keeps a HEIF's as `original_orientation`
    (its EXIF then says 1, the pixels being upright already); other formats' is `info`'s."""
    if info.format != "HEIF":
        return info.orientation
    try:
        with Image.open(io.BytesIO(data), formats=["HEIF"]) as img:
            stated = img.info.get("original_orientation")
    except (OSError, ValueError):
        return info.orientation
    return stated if isinstance(stated, int) and 1 <= stated <= 8 else info.orientation


def _faces(work: np.ndarray, factor: float, info: codec.ImageInfo) -> list[FaceBox]:
    """The faces of the work copy in pixels of the upright image (`factor`: its scale)."""
    found: list[FaceBox] = []
    for box in faces_in(work):
        left = max(0, round(box.left * factor))
        top = max(0, round(box.top * factor))
        right = min(info.width, round(box.right * factor))
        bottom = min(info.height, round(box.bottom * factor))
        found.append({"x": left, "y": top, "width": right - left, "height": bottom - top})
    return found


def _reduced(image: np.ndarray, side: int) -> np.ndarray:
    """`image` shrunk to at most `side` px long (area average), or as it is."""
    height, width = image.shape[:2]
    scale = side / max(width, height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
