"""Sharpen: the unsharp mask."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from pixelmill.imaging import alpha
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
    """Sharpen the colour channels; the alpha of BGRA images is kept.

    With alpha, the blur is taken on premultiplied colour: it is the mean colour of the
    visible pixels around, so neither the colour hidden under transparent pixels nor their
    emptiness shows as a halo along a shape's edge.
    """
    if not alpha.has_alpha(image):
        blurred = cv2.GaussianBlur(image, (0, 0), params.radius)
        return cv2.addWeighted(image, 1 + params.amount, blurred, -params.amount, 0)
    blurred = alpha.premultiplied(
        image, lambda pixels: cv2.GaussianBlur(pixels, (0, 0), params.radius)
    )
    sharp = cv2.addWeighted(image, 1 + params.amount, blurred, -params.amount, 0)
    cv2.insertChannel(cv2.extractChannel(image, 3), sharp, 3)
    return sharp
