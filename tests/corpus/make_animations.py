"""Writes the animated files of tests/corpus/ (anim-*.gif, anim-*.webp) and their answers in
animations.json: size, frame count, per-frame durations (ms), number of plays (0: for ever)
and whether the frames have transparency. The files are committed, so tests never run this;
run it again only to change them.

    .venv/bin/python tests/corpus/make_animations.py

The frames are drawn here with few colours (a GIF holds 256 a frame), and Pillow writes the
files: its GIF writer stores each frame after the first as the rectangle that changed, so
reading them back needs the frames composited over the ones before, as browsers do.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "animations.json"


def moving_disc(width: int, height: int, frames: int, transparent: bool) -> list[Image.Image]:
    """A disc crossing the picture, over four colour bands (or over nothing)."""
    y, x = np.mgrid[0:height, 0:width]
    pictures = []
    for i in range(frames):
        if transparent:
            image = np.zeros((height, width, 4), np.uint8)
        else:
            bands = [(30, 60, 200), (240, 200, 40), (20, 160, 90), (250, 250, 250)]
            image = np.zeros((height, width, 3), np.uint8)
            for band, colour in enumerate(bands):
                image[:, band * width // 4 : (band + 1) * width // 4] = colour
        cx = 4 + (width - 8) * i // max(1, frames - 1)
        inside = (x - cx) ** 2 + (y - height // 2) ** 2 <= (height // 3) ** 2
        image[inside] = (220, 30, 30, 255)[: image.shape[2]]
        if transparent:
            # a half-transparent bar (lossless WebP keeps it; GIF has 1-bit alpha)
            image[height - 4 :, : width // 2] = (0, 0, 255, 128)
        pictures.append(Image.fromarray(image))
    return pictures


def gif(frames: list[Image.Image], **options: Any) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], **options)
    return buffer.getvalue()


def webp(frames: list[Image.Image], **options: Any) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], **options)
    return buffer.getvalue()


def opaque_only(frames: list[Image.Image]) -> list[Image.Image]:
    """GIF frames with a transparent background: the half-transparent bar made opaque."""
    out = []
    for frame in frames:
        pixels = np.array(frame)
        pixels[..., 3] = np.where(pixels[..., 3] >= 128, 255, 0)
        out.append(Image.fromarray(pixels))
    return out


def main() -> None:
    six = [40, 60, 80, 100, 120, 140]
    files: dict[str, tuple[bytes, dict[str, Any]]] = {
        # loops for ever; frames stored as changed rectangles
        "anim-gif-bands.gif": (
            gif(moving_disc(48, 32, 6, False), duration=six, loop=0),
            {"frames": 6, "durations": six, "plays": 0, "alpha": False},
        ),
        # transparent background, each frame restores it (disposal 2); NETSCAPE says 3
        # repeats: 4 plays
        "anim-gif-transparent.gif": (
            gif(opaque_only(moving_disc(40, 30, 4, True)), duration=100, loop=3, disposal=2),
            {"frames": 4, "durations": [100] * 4, "plays": 4, "alpha": True},
        ),
        # no NETSCAPE block: plays once
        "anim-gif-once.gif": (
            gif(moving_disc(32, 24, 3, False), duration=[200, 300, 400]),
            {"frames": 3, "durations": [200, 300, 400], "plays": 1, "alpha": False},
        ),
        "anim-webp-rgba.webp": (
            webp(moving_disc(40, 30, 4, True), duration=[50, 100, 150, 200], loop=2, lossless=True),
            {"frames": 4, "durations": [50, 100, 150, 200], "plays": 2, "alpha": True},
        ),
        "anim-webp-lossy.webp": (
            webp(moving_disc(48, 32, 5, False), duration=70, loop=0, quality=90),
            {"frames": 5, "durations": [70] * 5, "plays": 0, "alpha": False},
        ),
    }
    manifest = {}
    for name, (data, answer) in files.items():
        (HERE / name).write_bytes(data)
        with Image.open(io.BytesIO(data)) as image:
            manifest[name] = {"width": image.width, "height": image.height, **answer}
        print(f"wrote {name} ({len(data):,} bytes)")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {MANIFEST.name}")


if __name__ == "__main__":
    main()
