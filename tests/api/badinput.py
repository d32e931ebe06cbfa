"""Hostile and odd inputs for the bad-input corpus: bombs in every format, images of unusual
kinds (CMYK, 16-bit, animated), EXIF bombs, ICC profiles huge or broken, HEIC and AVIF with
lying headers, broken multipart bodies."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, ImageCms

from pixelmill.imaging import codec  # registers the HEIF plugin (pillow-heif) with Pillow
from tests.images import encode, photo


def pil(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


GOOD_JPEG = encode(photo(96, 64, seed=11), ".jpg")
GOOD_PNG = encode(photo(96, 64, seed=12), ".png")
GOOD_WEBP = encode(photo(96, 64, seed=13), ".webp")
GOOD_HEIC = pil(Image.fromarray(photo(96, 64, seed=14)[:, :, ::-1]), "HEIF", quality=80)
GOOD_AVIF = codec.encode(photo(96, 64, seed=15), "avif", quality=80)
assert codec.sniff(GOOD_HEIC, max_pixels=10_000).format == "HEIF"


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


def isobmff_claiming(data: bytes, width: int, height: int) -> bytes:
    """A real HEIC or AVIF whose every image-size box (`ispe`) claims another size: the
    header of a bomb, over the pixels of a small image."""
    out = bytearray(data)
    at = out.find(b"ispe")
    assert at > 0
    while at != -1:  # size, "ispe", version and flags, then width and height
        out[at + 8 : at + 16] = struct.pack(">II", width, height)
        at = out.find(b"ispe", at + 4)
    return bytes(out)


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ORANGE = Image.new("RGB", (48, 32), (200, 100, 50))


def huge_icc(size: int = 1_500_000) -> bytes:
    """A valid sRGB profile padded to `size` bytes (its header says so): LittleCMS reads it."""
    padded = bytearray(SRGB_PROFILE + b"\0" * (size - len(SRGB_PROFILE)))
    padded[0:4] = struct.pack(">I", size)
    return bytes(padded)


def broken_icc() -> bytes:
    """An ICC header that promises tags, then garbage: LittleCMS refuses it."""
    return SRGB_PROFILE[:128] + b"\xab" * 400


def jpeg_with_icc(profile: bytes) -> bytes:
    """An orange JPEG (200, 100, 50) carrying `profile` (in as many APP2 segments as needed)."""
    return pil(ORANGE, "JPEG", quality=95, icc_profile=profile)


def png_with_icc_bomb() -> bytes:
    """A PNG whose iCCP chunk inflates to 50 MB: a deflate bomb in the colour profile."""
    plain = pil(ORANGE, "PNG")
    iccp = _chunk(b"iCCP", b"bomb\0\0" + zlib.compress(b"\0" * 50_000_000, 9))
    return plain[:33] + iccp + plain[33:]  # right after IHDR, before the pixels


def heic_with_icc(profile: bytes) -> bytes:
    return pil(ORANGE, "HEIF", quality=95, icc_profile=profile)


def avif_with_icc(profile: bytes) -> bytes:
    return pil(ORANGE, "AVIF", quality=95, icc_profile=profile)
