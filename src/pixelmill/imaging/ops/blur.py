"""Gaussian blur; on colour premultiplied by alpha, so transparent pixels lend no colour."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field, field_validator

from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams

MAX_KERNEL = 255


class BlurParams(OpParams):
    """Gaussian blur with a square kernel."""

    kernel_size: int = Field(
        5,
        ge=0,
        le=MAX_KERNEL,
        description=(
            "Odd kernel side in pixels (1-255); 1 leaves the image as is; "
            "0 derives the kernel from sigma."
        ),
    )
    sigma: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Standard deviation; 0 derives it from the kernel size as OpenCV does "
        "(with kernel_size 0 it then defaults to 1).",
    )

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value != 0 and value % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {value}")
        return value

    @property
    def opencv_args(self) -> tuple[tuple[int, int], float]:
        """The (ksize, sigma) pair OpenCV expects; never both zero."""
        sigma = self.sigma or (1.0 if self.kernel_size == 0 else 0.0)
        return (self.kernel_size, self.kernel_size), sigma

    @property
    def radius(self) -> int:
        """Rows of context each output row needs on either side."""
        if self.kernel_size:
            return self.kernel_size // 2
        (_, _), sigma = self.opencv_args
        # OpenCV's derived kernel for 8-bit images: round(sigma * 3 * 2 + 1) | 1
        return (round(sigma * 6 + 1) | 1) // 2


def blur(image: np.ndarray, params: BlurParams) -> np.ndarray:
    ksize, sigma = params.opencv_args
    return alpha.premultiplied(image, lambda pixels: cv2.GaussianBlur(pixels, ksize, sigma))
