"""Sharpen: the unsharp mask."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from pixelmill.imaging.ops import OpParams


class SharpenParams(OpParams):
    """Unsharp mask: out = in + amount × (in - gaussian_blur(in, radius))."""

    amount: float = Field(
        1.0,
        ge=0,
        le=10,
        description="How much of the detail (the image minus its blur) is added back, "
        "0 to 10; 0 leaves the image as is.",
    )
    radius: float = Field(
        1.0,
        gt=0,
        le=50,
        description="Sigma of the Gaussian blur in pixels, 0 < radius ≤ 50: "
        "the size of the details that get sharper.",
    )


def sharpen(image: np.ndarray, params: SharpenParams) -> np.ndarray:
    """Sharpen the colour channels; the alpha of BGRA images is kept."""
    has_alpha = image.ndim == 3 and image.shape[2] == 4
    colour = np.ascontiguousarray(image[..., :3]) if has_alpha else image
    blurred = cv2.GaussianBlur(colour, (0, 0), params.radius)
    sharp = cv2.addWeighted(colour, 1 + params.amount, blurred, -params.amount, 0)
    return np.dstack((sharp, image[..., 3])) if has_alpha else sharp
