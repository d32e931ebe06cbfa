"""Colour operations."""

from __future__ import annotations

import cv2
import numpy as np

from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams


class GrayscaleParams(OpParams):
    """`grayscale` takes no parameters."""


def to_gray(image: np.ndarray) -> np.ndarray:
    """One-channel luma (ITU-R BT.601 weights, as OpenCV); a gray image is returned as is."""
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Three-channel BGR; gray is replicated into each channel, alpha dropped."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def grayscale(image: np.ndarray, params: GrayscaleParams) -> np.ndarray:
    """One-channel luma; an image with alpha keeps it, as BGRA whose colour channels are the
    luma (gray and alpha cannot be a two-channel array)."""
    return keep_alpha(to_gray(image), image)


def keep_alpha(gray: np.ndarray, image: np.ndarray) -> np.ndarray:
    """`gray`, made from `image`, as BGRA with `image`'s alpha when it has one."""
    if not alpha.has_alpha(image):
        return gray
    return alpha.with_alpha(gray, cv2.extractChannel(image, 3))
