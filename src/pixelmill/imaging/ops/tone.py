"""Tone: brightness, contrast and threshold, as maps of levels (0-255) to levels.

Brightness and contrast change the colour channels alike and keep the alpha of BGRA images;
every level is rounded and clipped to 0-255. Threshold gives gray, or BGRA with the alpha
kept. No alpha is changed: transparent stays transparent.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams
from pixelmill.imaging.ops.color import keep_alpha, to_gray

MID_GRAY = 128
_LEVELS = np.arange(256, dtype=np.float64)


class BrightnessParams(OpParams):
    """Multiply, then add: out = in × factor + offset, clipped to 0-255."""

    offset: float = Field(
        0.0,
        ge=-255,
        le=255,
        description="Levels added to every colour channel, -255 to 255 "
        "(brightness=40 brightens by 40 levels; results clip at 0 and 255).",
    )
    factor: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Every colour channel is first multiplied by this, 0 to 10; 1 keeps it.",
    )


class ContrastParams(OpParams):
    """Stretch or squeeze levels around a pivot: out = pivot + (in - pivot) × factor."""

    factor: float = Field(
        1.0,
        ge=0,
        le=10,
        description="0 to 10: 1 keeps the image, 0 makes it flat, 2 doubles the distance of "
        "every level from the pivot (clipped to 0-255).",
    )
    pivot: Literal["middle", "mean"] = Field(
        "middle",
        description="middle: around mid-gray (128); mean: around the image's mean luma, "
        "as Pillow's ImageEnhance.Contrast does (with alpha: of the visible pixels, each "
        "weighed by its alpha).",
    )


class ThresholdParams(OpParams):
    """Black and white by luma."""

    value: int = Field(
        128,
        ge=0,
        le=255,
        description="Pixels whose luma is strictly above this become 255 (white), the others "
        "0 (black); the result is one-channel gray (with alpha: BGRA, alpha kept).",
    )


def brightness(image: np.ndarray, params: BrightnessParams) -> np.ndarray:
    return _map_levels(image, _LEVELS * params.factor + params.offset)


def contrast(image: np.ndarray, params: ContrastParams) -> np.ndarray:
    pivot = MID_GRAY if params.pivot == "middle" else _mean_luma(image)
    return _map_levels(image, pivot + (_LEVELS - pivot) * params.factor)


def threshold(image: np.ndarray, params: ThresholdParams) -> np.ndarray:
    _, binary = cv2.threshold(to_gray(image), params.value, 255, cv2.THRESH_BINARY)
    return keep_alpha(binary, image)


def _mean_luma(image: np.ndarray) -> float:
    """The mean luma of what is seen: with alpha, each pixel weighed by it (the colour under
    transparent pixels counts for nothing); mid-gray when nothing is seen at all."""
    luma = to_gray(image)
    if not alpha.has_alpha(image):
        return float(np.mean(luma))
    weights = image[..., 3].astype(np.float64)
    total = weights.sum()
    return float(np.sum(luma * weights) / total) if total else MID_GRAY


def _map_levels(image: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Apply a 256-entry table to the colour channels; alpha keeps its values."""
    table = np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        table = np.stack([table, table, table, np.arange(256, dtype=np.uint8)], axis=-1)
        table = table.reshape(256, 1, 4)
    return cv2.LUT(image, table)
