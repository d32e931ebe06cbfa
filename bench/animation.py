"""Animation benchmark: an animated GIF of 100 frames of 480x270 resized by 0.5, against Pillow
alone doing the same in a plain loop.

The clip is photo-like (bench/collage.py's 1080p photo shrunk to 680x270, panning two pixels
a frame, a red disc crossing it), each frame on its own 256-colour palette, 40 ms a frame,
looping for ever. Both
sides run in this process on one thread (``cv2.setNumThreads(1)``, as in a worker process),
interleaved, and the table gives the median CPU time of one whole resize:

* ``pixelmill``: what a worker does for ``/v1/transform`` with ``resize=0.5``: the header
  checks (`execution.pipeline.check` and `choose`), then `transform`: every frame decoded,
  resized (area averaging), and encoded animated, as GIF (the input's format) and as WebP
  (``format=webp``, quality 90);
* ``Pillow loop``: open, ``seek`` and ``convert("RGB")`` each frame, ``resize`` with BOX,
  then ``save(save_all=True)`` with the durations and the loop; for GIF each frame is put on a
  palette with the same quantizer (fast octree) first, since Pillow's default (median cut)
  takes 190 ms a 480x270 frame: its time is printed too, but not used as the reference.

It checks that both give 100 frames of 240x135 with the durations kept.

    .venv/bin/python bench/animation.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.collage import make_photo  # noqa: E402
from bench.formats import timed  # noqa: E402
from bench.report import Row, record  # noqa: E402

from pixelmill.execution import pipeline as execution  # noqa: E402
from pixelmill.imaging import pipeline  # noqa: E402

FRAMES, WIDTH, HEIGHT, DURATION = 100, 480, 270, 40
PHOTO_SEED = 20240503  # bench/thumbor_peer.py's photo
LIMITS = execution.Limits(
    max_bytes=100_000_000, max_pixels=50_000_000, max_output_pixels=100_000_000
)


def make_clip() -> bytes:
    wide = (WIDTH + 2 * FRAMES, HEIGHT)
    photo = cv2.resize(make_photo(PHOTO_SEED), wide, interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(FRAMES):
        frame = np.ascontiguousarray(photo[:, 2 * i : 2 * i + WIDTH])
        cv2.circle(frame, (20 + 4 * i, HEIGHT // 2), 30, (30, 30, 230), -1)
        rgb = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        frames.append(rgb.quantize(256, method=Image.Quantize.FASTOCTREE))
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=DURATION, loop=0
    )
    return buffer.getvalue()


def ours(clip: bytes, fmt: str | None) -> bytes:
    steps = pipeline.parse(["resize=0.5"])
    item = execution.check("clip.gif", clip, steps, LIMITS)
    out = execution.choose(item, steps, fmt, None, "bench", LIMITS.max_animation_pixels)
    (result,) = execution.transform(item, steps, out, LIMITS.png_compression)
    return result


def pillow_loop(clip: bytes, fmt: str, quantize: Image.Quantize | None) -> bytes:
    frames, durations = [], []
    with Image.open(io.BytesIO(clip)) as image:
        for index in range(image.n_frames):
            image.seek(index)
            small = image.convert("RGB").resize((WIDTH // 2, HEIGHT // 2), Image.Resampling.BOX)
            durations.append(image.info["duration"])
            frames.append(small.quantize(256, method=quantize) if quantize is not None else small)
    buffer = io.BytesIO()
    options = {"quality": 90, "method": 4} if fmt == "WEBP" else {}
    frames[0].save(
        buffer,
        fmt,
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=0,
        **options,
    )
    return buffer.getvalue()


def check(data: bytes, fmt: str) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt and image.n_frames == FRAMES, (image.format, image.n_frames)
        assert image.size == (WIDTH // 2, HEIGHT // 2)
        for index in (0, FRAMES - 1):
            image.seek(index)
            image.load()
            assert image.info["duration"] == DURATION


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    cv2.setNumThreads(1)
    clip = make_clip()
    print(f"clip: {FRAMES} frames of {WIDTH}x{HEIGHT}, GIF, {len(clip):,} bytes")
    cases: dict[str, Callable[[], bytes]] = {
        "pixelmill GIF": lambda: ours(clip, None),
        "Pillow loop GIF": lambda: pillow_loop(clip, "GIF", Image.Quantize.FASTOCTREE),
        "pixelmill WebP": lambda: ours(clip, "webp"),
        "Pillow loop WebP": lambda: pillow_loop(clip, "WEBP", None),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    sizes: dict[str, int] = {}
    for run in range(runs):
        for name, work in cases.items():
            seconds, data = timed(work)
            check(data, "GIF" if "GIF" in name else "WEBP")
            samples[name].append(seconds)
            sizes[name] = len(data)
        print(
            f"  run {run + 1}/{runs}: "
            + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in samples.items())
        )
    default_seconds, default_data = timed(lambda: pillow_loop(clip, "GIF", None))
    print(f"\n{'':<18}{'CPU s (median)':>16}{'bytes':>12}")
    for name, values in samples.items():
        print(f"{name:<18}{statistics.median(values):>16.2f}{sizes[name]:>12,}")
    print(
        f"{'Pillow default GIF':<18}{default_seconds:>16.2f}{len(default_data):>12,}"
        "   (median cut: one run)"
    )
    for fmt in ("GIF", "WebP"):
        mine = statistics.median(samples[f"pixelmill {fmt}"])
        theirs = statistics.median(samples[f"Pillow loop {fmt}"])
        record(
            Row(
                "animation",
                f"animated {fmt} resize=0.5, {FRAMES} frames {WIDTH}x{HEIGHT} (CPU time)",
                f"{mine:.2f} s, {sizes[f'pixelmill {fmt}']:,} bytes",
                f"Pillow plain loop: {theirs:.2f} s, {sizes[f'Pillow loop {fmt}']:,} bytes",
                mine / theirs,
                "<=",
                1.5,
                note="same quantizer (fast octree)" if fmt == "GIF" else "quality 90, method 4",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
