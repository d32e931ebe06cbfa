"""Codec: format by content, orientation, limits checked from the header, clear refusals."""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from pixelmill.errors import EmptyUpload, TooLarge, UnsupportedImage
from pixelmill.imaging import codec
from tests.images import encode, photo, pil_bytes

IMAGE = photo(64, 48, seed=3)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height, followed by a tiny IDAT: a decompression bomb."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (encode(IMAGE, ".jpg"), "JPEG"),
        (encode(IMAGE, ".png"), "PNG"),
        (encode(IMAGE, ".webp"), "WEBP"),
        (encode(IMAGE, ".bmp"), "BMP"),
        (encode(IMAGE, ".tiff"), "TIFF"),
        (pil_bytes(Image.fromarray(IMAGE[..., ::-1]), "GIF"), "GIF"),
    ],
)
def test_sniffs_format_by_content_and_decodes(data: bytes, fmt: str) -> None:
    info = codec.sniff(data, max_pixels=10_000)
    assert (info.format, info.width, info.height) == (fmt, 64, 48)
    gray = codec.decode(data, info, "gray")
    color = codec.decode(data, info, "color")
    assert gray.shape == (48, 64) and color.shape == (48, 64, 3)
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless: exact
        assert np.array_equal(color, IMAGE)
        assert np.array_equal(gray, cv2.cvtColor(IMAGE, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation: int, fmt: str) -> None:
    """Applied once: OpenCV's TIFF decoder turns a TIFF upright by itself."""
    rgb = Image.fromarray(photo(40, 24, seed=orientation)[..., ::-1])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pil_bytes(rgb, fmt, exif=exif)
    info = codec.sniff(data, max_pixels=10_000)
    with Image.open(io.BytesIO(data)) as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))[..., ::-1]
    assert (info.height, info.width) == upright.shape[:2]
    assert np.array_equal(codec.decode(data, info, "color"), upright)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", EmptyUpload, "empty"),
        (b"hello, this is text and not a JPEG at all\n" * 20, UnsupportedImage, "not an image"),
        (
            b"\xff\xd8\xff\xe0" + b"\0" * 40,
            UnsupportedImage,
            "not an image|damaged|cannot be decoded",
        ),
        (encode(IMAGE, ".jpg")[:200], UnsupportedImage, "not an image|damaged|cannot be decoded"),
        (
            b"GIF89a" + b"\0" * 3,
            UnsupportedImage,
            "not an image|damaged|cannot be decoded|no pixels",
        ),
    ],
    ids=["empty", "text", "jpeg-magic-only", "jpeg-cut-in-header", "gif-magic-only"],
)
def test_refuses_what_is_not_an_image(data: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        info = codec.sniff(data, max_pixels=10_000, name="upload")
        codec.decode(data, info)


def test_truncated_jpeg_is_refused_at_decoding() -> None:
    data = encode(photo(640, 480), ".jpg")
    cut = data[: len(data) * 2 // 3]
    info = codec.sniff(cut, max_pixels=10_000_000, name="image1")
    with pytest.raises(UnsupportedImage, match=r"image1.*truncated"):
        codec.decode(cut, info, "gray", "image1")


def test_pixel_limit_is_checked_from_the_header() -> None:
    data = encode(IMAGE)
    with pytest.raises(TooLarge, match="64×48 = 3,072 pixels; the limit is 3,000"):
        codec.sniff(data, max_pixels=3_000)


@pytest.mark.parametrize("side", [60_000, 12_000])
def test_bomb_header_refused_without_touching_memory(side: int) -> None:
    bomb = png_header_only(side, side)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TooLarge, match="pixel"):
        codec.sniff(bomb, max_pixels=50_000_000)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024  # decoding would need gigabytes


def test_decoded_size_must_match_the_header() -> None:
    data = encode(IMAGE)
    lying = codec.ImageInfo("PNG", 10, 10)
    with pytest.raises(UnsupportedImage, match="does not match"):
        codec.decode(data, lying)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_formats(fmt: str) -> None:
    data = codec.encode(IMAGE, fmt, quality=95)  # type: ignore[arg-type]
    info = codec.sniff(data, max_pixels=10_000)
    assert info.format == fmt.upper()
    decoded = codec.decode(data, info)
    error = np.abs(decoded.astype(int) - IMAGE.astype(int)).mean()
    assert error == 0 if fmt == "png" else error < 10  # a different image is ~80 off


def test_byte_limits() -> None:
    with pytest.raises(EmptyUpload, match="image2 is empty"):
        codec.check_bytes(0, 100, "image2")
    with pytest.raises(TooLarge, match="101 bytes; the limit is 100"):
        codec.check_bytes(101, 100, "image1")
    codec.check_bytes(100, 100, "image1")


def test_a_png_over_the_limit_is_refused_from_its_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 10000×10000 black PNG is 300 KB; reading its pixels would take 300 MB."""
    from PIL import PngImagePlugin

    data = pil_bytes(Image.new("RGB", (10_000, 10_000)), "PNG")
    assert len(data) < 1_000_000
    loads: list[object] = []
    real_load = PngImagePlugin.PngImageFile.load

    def counting_load(self: PngImagePlugin.PngImageFile) -> object:
        loads.append(self)
        return real_load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", counting_load)
    with pytest.raises(TooLarge, match="10000×10000"):
        codec.sniff(data, max_pixels=50_000_000)
    small = pil_bytes(Image.new("RGB", (300, 200)), "PNG")
    assert codec.sniff(small, max_pixels=50_000_000).width == 300
    assert loads == []  # neither was decoded to be sniffed


def test_a_png_chunk_claiming_gigabytes_costs_no_memory() -> None:
    """OpenCV 4.14's PNG reader allocates what a chunk's length claims before reading it:
    such a PNG goes to Pillow, which reads in blocks, and decodes as far as its data goes."""
    good = encode(photo(64, 48, seed=9))
    idat = good.index(b"IDAT") - 4
    damaged = good[:idat] + (0xAA4C1FF1).to_bytes(4, "big") + good[idat + 4 :]
    script = (
        "import resource, sys\n"
        "from pixelmill.imaging import codec\n"
        "data = sys.stdin.buffer.read()\n"
        "info = codec.sniff(data, max_pixels=4_000_000)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    shape = codec.decode(data, info, 'color').shape\n"
        "except Exception as exc:\n"
        "    shape = type(exc).__name__\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(info.plain, shape, grown // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=damaged, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    plain, *shape, grown_mb = done.stdout.decode().split()
    assert plain == "False", shape  # not OpenCV's fast path
    assert int(grown_mb) < 100, f"decoding grew memory by {grown_mb} MB"
    assert codec.sniff(good, max_pixels=4_000_000).plain  # a whole PNG still takes it
