"""Previews a browser always displays: any image pixelmill reads (TIFF, HEIC, AVIF, BMP,
16-bit, CMYK JPEG, ...) as PNG or WebP, at most MAX_SIDE pixels on its long side.

    render(data, info)  ->  Preview(data, format, width, height)

The image is decoded as the engine decodes it (codec.decode: upright by its EXIF orientation,
ICC profile converted to sRGB, alpha kept), a JPEG shrunk on load by its DCT when it is large,
then fitted inside MAX_SIDE × MAX_SIDE (geometry.fit, never enlarged). The format:

- PNG where lossless matters: gray images (scans, the pages OCR reads) and images of at
  most 256 colours (screenshots, line art, text), whose edges a lossy codec blurs and
  which PNG holds small;
- WebP (quality 90) for the rest, photos: a tenth of PNG's bytes at no visible loss, and
  alpha kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelmill.imaging import codec
from pixelmill.imaging.ops.geometry import FitParams, fit

MAX_SIDE = 1600
MAX_LOSSLESS_COLOURS = 256
PHOTO_QUALITY = 90
# colours are counted on every SAMPLE_STEP-th pixel of every SAMPLE_STEP-th row: a photo
# shows hundreds of colours in any sample, and the count stays cheap (a few ms at 1600 px)
SAMPLE_STEP = 4


@dataclass(frozen=True, slots=True)
class Preview:
    data: bytes
    format: codec.Format
    width: int
    height: int


def render(
    data: bytes, info: codec.ImageInfo, max_side: int = MAX_SIDE, name: str = "image"
) -> Preview:
    """The browser-safe preview of an image whose header `info` has been checked."""
    image = codec.decode(data, info, "keep", name, _jpeg_scale(info, max_side))
    if max(image.shape[:2]) > max_side:
        image = fit(image, FitParams(width=max_side, height=max_side, mode="inside"))
    fmt = codec.FORMATS["png" if lossless_matters(image) else "webp"]
    encoded = codec.encode(image, fmt.name, quality=PHOTO_QUALITY)
    height, width = image.shape[:2]
    return Preview(encoded, fmt, width, height)


def lossless_matters(image: np.ndarray) -> bool:
    """Gray, or at most MAX_LOSSLESS_COLOURS colours (alpha counted) in a sample."""
    if image.ndim == 2:
        return True
    # a coarse sample first: a photo shows its hundreds of colours there already
    return all(
        _colours(image, step) <= MAX_LOSSLESS_COLOURS for step in (4 * SAMPLE_STEP, SAMPLE_STEP)
    )


def _colours(image: np.ndarray, step: int) -> int:
    """How many colours (alpha counted) every `step`-th pixel of every `step`-th row holds."""
    sample = image[::step, ::step].reshape(-1, image.shape[2]).astype(np.uint32)
    packed = sample[:, 0] | sample[:, 1] << 8 | sample[:, 2] << 16  # BGR(A): 3 or 4 bytes
    if sample.shape[1] == 4:
        packed |= sample[:, 3] << 24
    return len(np.unique(packed))


def _jpeg_scale(info: codec.ImageInfo, max_side: int) -> int:
    """The largest DCT scale that still leaves the JPEG at least `max_side` long."""
    if info.format != "JPEG":
        return 1
    fits = (s for s in codec.JPEG_SCALES if max(codec.reduced_size(info, s)) >= max_side)
    return next(fits, 1)
