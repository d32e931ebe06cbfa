"""Transparency: arrays with alpha are HxWx4 BGRA, the alpha straight (not premultiplied)."""

from __future__ import annotations

import numpy as np


def has_alpha(image: np.ndarray) -> bool:
    """Whether the array carries an alpha channel."""
    return image.ndim == 3 and image.shape[2] == 4


def bgr_of(colour: str) -> tuple[int, int, int]:
    """`#rrggbb` (the `#` optional) as a (blue, green, red) triple."""
    digits = colour.removeprefix("#")
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return blue, green, red


def flatten(image: np.ndarray, background: str = "#ffffff") -> np.ndarray:
    """A BGRA image laid over an opaque `background`, as BGR; other arrays unchanged."""
    if not has_alpha(image):
        return image
    alpha = image[:, :, 3:4].astype(np.float32) * (1 / 255)
    under = np.array(bgr_of(background), np.float32)
    mixed = image[:, :, :3].astype(np.float32) * alpha + under * (1 - alpha)
    flat: np.ndarray = np.rint(mixed).astype(np.uint8)
    return flat
