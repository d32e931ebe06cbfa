"""Warm a job runner up before the service reports healthy: the first decode and encode of
each common format loads plugins and tables (Pillow's plugin registry, libjpeg's, libpng's,
libwebp's), and the first chain imports the modules its steps live in; the first request
would otherwise wait for both."""

from __future__ import annotations

import numpy as np

from pixelmill.execution.pipeline import Limits, check, choose, transform
from pixelmill.imaging import codec, pipeline

# the request most servers get first: shrink on load, gray, blur (JPEG decoded at 1/2, gray)
_STEPS = "resize=0.5,grayscale,blur=3"
_LIMITS = Limits(max_bytes=1 << 20, max_pixels=1 << 16, max_output_pixels=1 << 16)


def warm_up() -> None:
    """One small image through check, decode, a chain and encode, in each common format."""
    image = np.full((64, 64, 3), 128, np.uint8)
    steps = pipeline.parse(pipeline.parse_text(_STEPS), 10)
    for fmt in ("jpeg", "png", "webp"):
        item = check("warm-up", codec.encode(image, fmt), steps, _LIMITS)
        transform(item, steps, choose(item, steps, None, None, "warm-up"), 1)
