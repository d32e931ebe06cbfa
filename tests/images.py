"""Test images, and the collage computed independently of pixelmill (OpenCV, plain loops)."""

from __future__ import annotations

import io
import math
from typing import Any

import cv2
import numpy as np
from PIL import Image


def expected_cell(
    gray: np.ndarray, kernel: int, segment: int, threshold: float, thickness: int = 2
) -> np.ndarray:
    """Blurred gray as BGR with a red frame (drawn segment by segment) on each bright segment."""
    blurred = cv2.GaussianBlur(gray, (kernel, kernel), 0)
    out = cv2.cvtColor(blurred, cv2.COLOR_GRAY2BGR)
    height, width = gray.shape
    for y0 in range(0, height, segment):
        for x0 in range(0, width, segment):
            y1, x1 = min(y0 + segment, height), min(x0 + segment, width)
            if cv2.mean(blurred[y0:y1, x0:x1])[0] > threshold:
                t = thickness
                red = (0, 0, 255)
                for (ya, xa), (yb, xb) in (
                    ((y0, x0), (min(y0 + t, y1) - 1, x1 - 1)),  # top
                    ((max(y1 - t, y0), x0), (y1 - 1, x1 - 1)),  # bottom
                    ((y0, x0), (y1 - 1, min(x0 + t, x1) - 1)),  # left
                    ((y0, max(x1 - t, x0)), (y1 - 1, x1 - 1)),  # right
                ):
                    cv2.rectangle(out, (xa, ya), (xb, yb), red, thickness=-1)
    return out


def expected_collage(cells: list[np.ndarray]) -> np.ndarray:
    """Cells on a black canvas, ceil(sqrt(n)) columns, cell = widest × tallest."""
    columns = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / columns)
    cell_w = max(c.shape[1] for c in cells)
    cell_h = max(c.shape[0] for c in cells)
    canvas = np.zeros((rows * cell_h, columns * cell_w, 3), np.uint8)
    for i, cell in enumerate(cells):
        y, x = (i // columns) * cell_h, (i % columns) * cell_w
        canvas[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
    return canvas


def encode(image: np.ndarray, ext: str = ".png", **params: int) -> bytes:
    """Encode a BGR or gray array with OpenCV."""
    flags: list[int] = []
    if ext == ".jpg":
        flags = [cv2.IMWRITE_JPEG_QUALITY, params.get("quality", 95)]
    ok, buf = cv2.imencode(ext, image, flags)
    assert ok
    return buf.tobytes()


def blocks(height: int, width: int, block: int, values: list[list[int]]) -> np.ndarray:
    """A gray image of `block`-sized squares with the given brightness, cut to height×width."""
    grid = np.kron(np.array(values, np.uint8), np.ones((block, block), np.uint8))
    canvas = np.zeros((height, width), np.uint8)
    h, w = min(height, grid.shape[0]), min(width, grid.shape[1])
    canvas[:h, :w] = grid[:h, :w]
    return canvas


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like BGR image: gradients, shapes and noise, bright and dark areas."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack(
        [x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + 2 * y) % 256], axis=-1
    ).astype(np.uint8)
    for _ in range(8):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        radius = int(rng.integers(5, max(6, min(width, height) // 4)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, (cx, cy), radius, color, -1)
    noise = rng.integers(-12, 13, image.shape)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def pil_bytes(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def astronaut() -> np.ndarray:
    """scikit-image's astronaut (512x512, one face), as BGR."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)
