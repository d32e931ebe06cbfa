"""Warm a job runner up before the service reports healthy: the first decode and encode of
each common format loads plugins and tables (Pillow's plugin registry, libjpeg's, libpng's,
libwebp's) that the first request would otherwise wait for."""

from __future__ import annotations

import numpy as np

from pixelmill.imaging import codec, pipeline

_STEPS = "resize=0.5,grayscale,blur=3"


def warm_up() -> None:
    """One tiny image through sniff, decode, a chain and encode, in each common format."""
    image = np.full((16, 16, 3), 128, np.uint8)
    steps = pipeline.parse(pipeline.parse_text(_STEPS), 10)
    for fmt in ("jpeg", "png", "webp"):
        data = codec.encode(image, fmt)
        info = codec.sniff(data, max_pixels=1024, name="warm-up")
        decoded = codec.decode(data, info, "keep", "warm-up")
        (result,) = pipeline.run(steps, [decoded])
        codec.encode(result, fmt)
