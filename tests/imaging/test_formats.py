"""HEIC/HEIF and AVIF read, AVIF written: the corpus files (tests/corpus/make_formats.py)
decode upright, with their alpha, to the pixels Pillow shows; the pixel limit holds from
their header; an AVIF written by pixelmill is read back by Pillow with its alpha."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from pixelmill.errors import TooLarge, UnsupportedImage
from pixelmill.imaging import codec
from tests.api import badinput as bad
from tests.corpus.make_formats import FILES, logo, upright_photo
from tests.images import photo

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
IMAGE = photo(96, 64, seed=21)


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def pillow_bgr(data: bytes) -> np.ndarray:
    """What Pillow shows, turned upright (HEIF: libheif already did), as BGR or BGRA."""
    with Image.open(io.BytesIO(data)) as img:
        upright = ImageOps.exif_transpose(img)
        mode = {"L": "L", "RGBA": "RGBA"}.get(upright.mode, "RGB")
        pixels = np.asarray(upright.convert(mode))
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if mode == "RGBA" else cv2.COLOR_RGB2BGR)


def quadrant_means(image: np.ndarray) -> list[np.ndarray]:
    """Mean colour (BGR) of the centre of each quadrant: top-left, top-right, bottom-left,
    bottom-right."""
    h, w = image.shape[:2]
    centres = [
        (h // 4, w // 4),
        (h // 4, 3 * w // 4),
        (3 * h // 4, w // 4),
        (3 * h // 4, 3 * w // 4),
    ]
    return [image[y - 10 : y + 10, x - 10 : x + 10].reshape(-1, 3).mean(0) for y, x in centres]


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_corpus_file_reads_from_its_header_as_expected(name: str) -> None:
    data = corpus(name)
    expected = FILES[name]
    info = codec.sniff(data, max_pixels=1_000_000)
    assert info.format == ("HEIF" if name.endswith(".heic") else "AVIF")
    assert (info.width, info.height) == expected.size
    assert (info.alpha, info.gray) == (expected.alpha, expected.gray)
    kept = codec.decode(data, info, "keep")
    channels = 1 if expected.gray else 4 if expected.alpha else 3
    assert kept.shape == (expected.size[1], expected.size[0], channels)[: 2 if channels == 1 else 3]
    # the pixels Pillow shows (one step of rounding apart at most)
    assert np.abs(kept.astype(int) - pillow_bgr(data)).max() <= 1


@pytest.mark.parametrize(
    "name", ["heic-iphone-orientation6-gps.heic", "avif-orientation6-gps.avif"]
)
def test_a_phone_photo_comes_out_upright(name: str) -> None:
    data = corpus(name)
    info = codec.sniff(data, max_pixels=1_000_000)
    image = codec.decode(data, info, "color")
    assert image.shape == (320, 240, 3)  # portrait: the sensor's 320x240 turned 90°
    truth = cv2.cvtColor(upright_photo(), cv2.COLOR_RGB2BGR)
    # each quadrant has the colour of the one the turn put there (lossy: 12 levels)
    for got, want in zip(quadrant_means(image), quadrant_means(truth), strict=True):
        assert np.abs(got - want).max() <= 12, (got, want)


def test_alpha_of_an_avif_and_a_heic_is_kept() -> None:
    rgb, alpha = logo()
    opaque = alpha == 255
    for name, alpha_tolerance in (("avif-alpha.avif", 0), ("heic-alpha.heic", 6)):
        data = corpus(name)
        bgra = codec.decode(data, codec.sniff(data, max_pixels=10_000), "keep")
        assert np.abs(bgra[:, :, 3].astype(int) - alpha).max() <= alpha_tolerance, name
        colour = cv2.cvtColor(bgra[:, :, :3], cv2.COLOR_BGR2RGB)
        assert np.abs(colour[opaque].astype(int) - rgb[opaque]).mean() <= 3, name
        # "color" lays it over white: the red hidden under the transparent pixels never shows
        over_white = codec.decode(data, codec.sniff(data, max_pixels=10_000), "color")
        assert (over_white[alpha == 0] >= 250).all(), name


def test_a_gray_heic_stays_one_channel_and_a_10_bit_avif_is_scaled_to_8_bits() -> None:
    gray = corpus("heic-gray.heic")
    image = codec.decode(gray, codec.sniff(gray, max_pixels=10_000), "keep")
    assert image.ndim == 2 and image[:, 0].mean() < 10 and image[:, -1].mean() > 245
    deep = corpus("avif-10bit.avif")
    bgr = codec.decode(deep, codec.sniff(deep, max_pixels=10_000), "keep")
    # blue falls 1023 -> 0, green rises to 511, red to 1023 across the width (in 8 bits;
    # lossy 4:2:0 colour: 6 levels)
    left, right = bgr[:, 0].mean(0), bgr[:, -1].mean(0)
    assert np.abs(left - (255, 0, 0)).max() <= 6 and np.abs(right - (0, 127, 255)).max() <= 6


@pytest.mark.parametrize("good", [bad.GOOD_HEIC, bad.GOOD_AVIF], ids=["heic", "avif"])
def test_the_pixel_limit_holds_from_the_header(good: bytes) -> None:
    # 8000x8000 claimed over 96x64 of data: refused by the limit, before any decoding
    bomb = bad.isobmff_claiming(good, 8000, 8000)
    with pytest.raises(TooLarge, match="8000×8000 = 64,000,000 pixels; the limit is 50,000,000"):
        codec.sniff(bomb, max_pixels=50_000_000)
    # past libheif's and libavif's own limits too: still a 4xx, never a crash
    with pytest.raises((TooLarge, UnsupportedImage)):
        codec.sniff(bad.isobmff_claiming(good, 65_535, 65_535), max_pixels=50_000_000)
    with pytest.raises(UnsupportedImage):
        data = bad.truncated(good)
        codec.decode(data, codec.sniff(data, max_pixels=50_000_000))


def test_opencv_writes_avif() -> None:
    assert cv2.haveImageWriter(".avif")  # opencv-python-headless's wheel (libavif, libaom)


@pytest.mark.parametrize(
    ("image", "mode"),
    [
        (IMAGE, "RGB"),
        (cv2.cvtColor(IMAGE, cv2.COLOR_BGR2GRAY), "L"),
        (np.dstack([IMAGE, np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1))]), "RGBA"),
    ],
    ids=["colour", "gray", "alpha"],
)
def test_avif_written_is_read_back_by_pillow(image: np.ndarray, mode: str) -> None:
    data = codec.encode(image, "avif", quality=90)
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.mode, img.size) == ("AVIF", mode, (96, 64))
        back = np.asarray(img)
    if mode == "L":
        assert np.abs(back.astype(int) - image).mean() <= 2
        return
    # the noisy photo in 4:2:0: as close as JPEG's at the same quality, and 25 dB at least;
    # where alpha is 0 the colour is no one's to see (the encoder fills it from the edge)
    seen = slice(1, None) if mode == "RGBA" else slice(None)
    bgr = np.ascontiguousarray(cv2.cvtColor(back[:, :, :3], cv2.COLOR_RGB2BGR)[:, seen])
    flat = np.ascontiguousarray(image[:, seen, :3])
    jpeg = cv2.imdecode(np.frombuffer(codec.encode(flat, "jpeg", quality=90), np.uint8), 1)
    assert cv2.PSNR(bgr, flat) >= max(25.0, cv2.PSNR(jpeg, flat))
    if mode == "RGBA":  # the alpha ramp survives
        assert np.abs(back[:, :, 3].astype(int) - image[:, :, 3]).max() <= 4


def test_avif_quality_trades_size() -> None:
    small = codec.encode(IMAGE, "avif", quality=30)
    large = codec.encode(IMAGE, "avif", quality=90)
    assert len(small) < len(large) * 0.7
    with pytest.raises(Exception, match="quality must be between 1 and 100"):
        codec.encode(IMAGE, "avif", quality=0)


def test_avif_max_side_is_refused_before_any_pixel_work() -> None:
    fmt = codec.FORMATS["avif"]
    codec.check_encodable([(16_384, 8)], fmt, "a.jpg")
    with pytest.raises(Exception, match="AVIF holds at most 16384 pixels a side"):
        codec.check_encodable([(16_385, 8)], fmt, "a.jpg")


def test_damaged_avif_pixels_are_a_415_not_a_500() -> None:
    # libavif reports damage as RuntimeError, which Pillow passes on as it is
    data = bytearray(bad.GOOD_AVIF)
    at = data.index(b"mdat") + 4
    data[at : at + 40] = b"\xff" * 40  # the AV1 data itself
    info = codec.sniff(bytes(data), max_pixels=10_000)
    with pytest.raises(UnsupportedImage, match="cannot be decoded: Failed to decode frame 0"):
        codec.decode(bytes(data), info)
