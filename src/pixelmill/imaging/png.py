"""A fast PNG writer: numpy for the row filter, ISA-L for deflate.

libpng at level 1 spends most of its time in zlib and in trying five filters per row. Here
every row gets the Sub filter (one vectorised subtraction: good on photos and on the flat
gray areas of a collage) and deflate runs in ISA-L, several times faster than zlib at its
fast levels and with smaller output than zlib level 1. Levels 4-9 fall back to zlib for
users who want the smallest files. The container is written by hand: it is four chunks.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUB = 1
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)


def encode(image: np.ndarray, level: int = 1) -> bytes:
    """Encode a uint8 array (HxW gray, HxWx3 BGR, HxWx4 BGRA) as an 8-bit PNG."""
    if image.dtype != np.uint8:
        raise ValueError(f"PNG writer takes uint8 arrays, got {image.dtype}")
    if not 0 <= level <= 9:
        raise ValueError(f"PNG compression level must be 0-9, got {level}")
    pixels = image[:, :, None] if image.ndim == 2 else image
    height, width, channels = pixels.shape
    if channels == 3:  # OpenCV's BGR(A) -> PNG's RGB(A); a view for BGR, a copy for BGRA
        pixels = pixels[:, :, ::-1]
    elif channels == 4:
        pixels = pixels[:, :, [2, 1, 0, 3]]
    raw = np.empty((height, width * channels + 1), np.uint8)
    raw[:, 0] = _SUB
    body = raw[:, 1:].reshape(height, width, channels)
    body[:, 0] = pixels[:, 0]
    np.subtract(pixels[:, 1:], pixels[:, :-1], out=body[:, 1:])
    view = raw.data
    data = isal_zlib.compress(view, level) if level <= 3 else zlib.compress(view, level)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", data), _chunk(b"IEND")))


def _chunk(kind: bytes, payload: bytes = b"") -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
