"""Hostile and odd inputs for the bad-input corpus: bombs in every format, images of unusual
kinds (CMYK, 16-bit, animated), EXIF bombs, broken multipart bodies."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image

from tests.images import encode, photo


def pil(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


GOOD_JPEG = encode(photo(96, 64, seed=11), ".jpg")
GOOD_PNG = encode(photo(96, 64, seed=12), ".png")
GOOD_WEBP = encode(photo(96, 64, seed=13), ".webp")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) claims another size: a header-only bomb."""
    data = bytearray(GOOD_JPEG)
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_deflate_bomb() -> bytes:
    """A real, valid PNG of 10000×10000 black pixels: 100 MB of pixels in about 100 kB."""
    rows = b"".join(b"\0" + b"\0" * 10000 for _ in range(10000))
    ihdr = struct.pack(">IIBBBBB", 10000, 10000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose screen and only frame claim `width`×`height`, with one pixel of data."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"  # a two-colour palette
        + b","
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x02\x02\x44\x01\x00;"
    )


def webp_claiming(width: int, height: int) -> bytes:
    """A real lossy WebP wrapped in an extended (VP8X) header whose canvas claims the size."""
    inner = GOOD_WEBP[12:]  # the VP8 chunk
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + inner
    return b"RIFF" + struct.pack("<I", len(body)) + body


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "lime", "blue")]
    return pil(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "lime", "blue")]
    return pil(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=40)


def cmyk_jpeg() -> bytes:
    """CMYK JPEG of pure cyan (C=255, M=Y=K=0): decodes to RGB (0, 255, 255)."""
    return pil(Image.new("CMYK", (48, 32), (255, 0, 0, 0)), "JPEG", quality=95)


def png_16bit_gray() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    return bytes(cv2.imencode(".png", ramp)[1])


def png_16bit_rgba() -> bytes:
    pixels = np.full((32, 48, 4), 65535, np.uint16)
    pixels[..., 3] = 32768
    return bytes(cv2.imencode(".png", pixels)[1])


def _exif_segment(payload: bytes) -> bytes:
    body = b"Exif\0\0" + payload
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def exif_bomb_many_segments(count: int = 24) -> bytes:
    """A JPEG with `count` APP1 segments of 60 kB each, every one an EXIF block claiming
    65,535 entries that are not there."""
    tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 0xFFFF)
    payload = tiff + b"\xab" * (60_000 - len(tiff))
    return GOOD_JPEG[:2] + _exif_segment(payload) * count + GOOD_JPEG[2:]


def exif_loop() -> bytes:
    """A JPEG whose EXIF IFD0 holds an orientation of 9 (no such value) and names itself as the
    next IFD: a loop for a reader that follows it."""
    entry = struct.pack(">HHII", 0x0112, 3, 1, 9 << 16)
    ifd = struct.pack(">H", 1) + entry + struct.pack(">I", 8)
    tiff = b"MM\0*" + struct.pack(">I", 8) + ifd
    return GOOD_JPEG[:2] + _exif_segment(tiff) + GOOD_JPEG[2:]


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "pm-b") -> bytes:
    """A multipart body from (name, filename or None, content) parts."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MULTIPART = {"content-type": "multipart/form-data; boundary=pm-b"}
