"""Writes the HEIC and AVIF files of the real-world corpus (tests/corpus/heic-*, avif-*): the
files are committed, so tests never run this; run it again only to change them.

    .venv/bin/python tests/corpus/make_formats.py

Each file is made the way a phone or an encoder makes it: the HEIC by libheif and x265
(pillow-heif), the AVIF by libavif and libaom (Pillow's writer, and OpenCV's for 10 bits).
`FILES` says what each one must decode to (tests/imaging/test_formats.py).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
from PIL import ExifTags, Image

HERE = Path(__file__).resolve().parent
# A phone's sensor is landscape: the file holds 320x240 pixels and says "turn 90° clockwise"
SENSOR_W, SENSOR_H = 320, 240
LOGO_W, LOGO_H = 64, 48
# The four quadrants of the phone photo as the sensor saw them (RGB)
QUADRANTS = {"top-left": (220, 40, 40), "top-right": (40, 200, 60)}
QUADRANTS |= {"bottom-left": (50, 70, 220), "bottom-right": (235, 235, 225)}
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.5),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
}
MAKE, MODEL = "Apple", "iPhone 15 Pro"


@dataclass(frozen=True)
class Expected:
    """What a file decodes to: its upright size, whether it has alpha and is gray, and the
    EXIF tags it carries (GPS included) that an output keeps only with `strip=false`."""

    size: tuple[int, int]  # upright (width, height)
    alpha: bool = False
    gray: bool = False
    exif: dict[int, object] = field(default_factory=dict)
    gps: bool = False


FILES = {
    "heic-iphone-orientation6-gps.heic": Expected(
        (SENSOR_H, SENSOR_W), exif={ExifTags.Base.Make: MAKE, ExifTags.Base.Model: MODEL}, gps=True
    ),
    "heic-gray.heic": Expected((LOGO_W, LOGO_H), gray=True),
    "heic-alpha.heic": Expected((LOGO_W, LOGO_H), alpha=True),
    "avif-alpha.avif": Expected((LOGO_W, LOGO_H), alpha=True),
    "avif-orientation6-gps.avif": Expected(
        (SENSOR_H, SENSOR_W), exif={ExifTags.Base.Make: MAKE, ExifTags.Base.Model: MODEL}, gps=True
    ),
    "avif-10bit.avif": Expected((LOGO_W, LOGO_H)),
}


def sensor_photo() -> np.ndarray:
    """RGB, as the sensor saw it: four coloured quadrants with soft texture."""
    y, x = np.mgrid[0:SENSOR_H, 0:SENSOR_W]
    image = np.zeros((SENSOR_H, SENSOR_W, 3), np.float32)
    half_h, half_w = SENSOR_H // 2, SENSOR_W // 2
    for name, colour in QUADRANTS.items():
        rows = slice(0, half_h) if name.startswith("top") else slice(half_h, SENSOR_H)
        cols = slice(0, half_w) if name.endswith("left") else slice(half_w, SENSOR_W)
        image[rows, cols] = colour
    texture = 8 * np.sin(x / 7.0) * np.cos(y / 9.0)
    return np.clip(image + texture[..., None], 0, 255).astype(np.uint8)


def upright_photo() -> np.ndarray:
    """What the phone photo looks like turned upright (EXIF orientation 6: 90° clockwise)."""
    return np.ascontiguousarray(np.rot90(sensor_photo(), k=-1))


def logo() -> tuple[np.ndarray, np.ndarray]:
    """A logo: RGB of a warm gradient with pure red under every fully transparent pixel (it
    must never show), and its alpha: an opaque disc, a soft edge, nothing around it."""
    y, x = np.mgrid[0:LOGO_H, 0:LOGO_W]
    r = np.hypot((x + 0.5 - LOGO_W / 2) / (LOGO_H / 2), (y + 0.5 - LOGO_H / 2) / (LOGO_H / 2))
    alpha = (np.clip((0.9 - r) / 0.2, 0, 1) * 255).round().astype(np.uint8)
    rgb = np.stack([200 + 0 * x, 60 + x * 2, 30 + y * 3], -1).astype(np.uint8)
    rgb[alpha == 0] = (255, 0, 0)
    return rgb, alpha


def phone_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = MODEL
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2024:05:03 12:00:00"}
    exif[ExifTags.IFD.GPSInfo] = GPS
    return exif.tobytes()


def save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def make() -> dict[str, bytes]:
    pillow_heif.register_heif_opener()
    photo = Image.fromarray(sensor_photo())
    rgb, alpha = logo()
    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    ramp = np.tile(np.linspace(0, 1023, LOGO_W).astype(np.uint16), (LOGO_H, 1))
    bgr10 = np.dstack([1023 - ramp, ramp // 2, ramp])  # 10-bit values in 16-bit BGR
    ok, avif10 = cv2.imencode(
        ".avif", bgr10, [cv2.IMWRITE_AVIF_DEPTH, 10, cv2.IMWRITE_AVIF_QUALITY, 95]
    )
    assert ok
    return {
        # as an iPhone writes it: HEVC in a HEIF, an irot box and EXIF orientation 6 that
        # agree, GPS in the EXIF
        "heic-iphone-orientation6-gps.heic": save(photo, "HEIF", quality=90, exif=phone_exif(6)),
        "heic-gray.heic": save(Image.fromarray(ramp.astype(np.float32) / 4).convert("L"), "HEIF"),
        "heic-alpha.heic": save(rgba, "HEIF", quality=95),
        # alpha lossless at quality 100 (libavif), colour 4:4:4
        "avif-alpha.avif": save(rgba, "AVIF", quality=100, subsampling="4:4:4"),
        # Pillow's writer turns EXIF orientation 6 into AVIF's irot box
        "avif-orientation6-gps.avif": save(photo, "AVIF", quality=90, exif=phone_exif(6)),
        "avif-10bit.avif": avif10.tobytes(),
    }


def main() -> None:
    files = make()
    assert set(files) == set(FILES)
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data):,} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
