"""The PNG writer: what it writes decodes, in every decoder, to exactly the pixels given."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image

from pixelmill.imaging import png

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 1, 3), (3, 1, 3), (1, 5, 4), (37, 53), (37, 53, 3), (64, 33, 4), (200, 300, 3)],
)
@pytest.mark.parametrize("level", [0, 1, 3, 6])
def test_round_trip_is_exact(shape: tuple[int, ...], level: int) -> None:
    image = RNG.integers(0, 256, shape, dtype=np.uint8)
    data = png.encode(image, level)
    assert data.startswith(png.SIGNATURE)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == image.shape
    assert np.array_equal(decoded, image)


def test_pillow_reads_rgb_in_the_right_order() -> None:
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's order
    with Image.open(io.BytesIO(png.encode(bgr))) as img:
        assert img.mode == "RGB"
        assert img.getpixel((3, 2)) == (255, 0, 0)


def test_gray_stays_one_channel() -> None:
    with Image.open(io.BytesIO(png.encode(np.full((5, 5), 77, np.uint8)))) as img:
        assert img.mode == "L"
        assert img.getpixel((0, 0)) == 77


def test_refuses_other_depths_and_levels() -> None:
    with pytest.raises(ValueError, match="uint8"):
        png.encode(np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match="0-9"):
        png.encode(np.zeros((2, 2), np.uint8), level=10)


@pytest.mark.parametrize("level", [1, 6])
@pytest.mark.parametrize("bands", [2, 3, 8])
def test_deflate_in_parallel_bands_is_one_valid_stream(bands: int, level: int) -> None:
    image = RNG.integers(0, 256, (1500, 1100, 3), dtype=np.uint8)  # ~4.9 MB of rows
    image[200:900] = 128  # flat rows compress; noisy rows do not
    with ThreadPoolExecutor(bands) as pool:
        data = png.encode(image, level, bands=bands, map_fn=pool.map)
    assert data != png.encode(image, level)  # really cut into several deflate pieces
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, image)
    with Image.open(io.BytesIO(data)) as img:  # Pillow checks the CRCs and the Adler-32
        img.load()
        assert np.array_equal(np.asarray(img), image[..., ::-1])
