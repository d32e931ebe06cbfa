"""Output formats benchmark: WebP and AVIF against JPEG on the 1920x1080 photo of the other
benchmarks (bench/collage.py's `make_photo`, the thumbor benchmark's seed).

Each format is encoded by `codec.encode`, as every surface encodes (OpenCV; one thread, as
in a worker process), at pixelmill's default quality (90) and at the quality where each
looks as close to the photo as JPEG at 90 does (SSIM on luma, the first quality whose SSIM
reaches JPEG's). Runs are interleaved (JPEG, WebP, AVIF, JPEG, ...); the table gives the
median CPU time of one encode, the size, and their ratios to JPEG's.

`--speeds` prints instead the table behind `codec.AVIF_SPEED`: libaom's speeds 4 to 10 at
qualities 60, 75 and 90, with CPU time, size and SSIM (docs/performance.md).

    .venv/bin/python bench/formats.py [--runs 7] [--quick] [--speeds]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.collage import make_photo  # noqa: E402
from bench.report import Row, record  # noqa: E402

from pixelmill.imaging import codec  # noqa: E402

PHOTO_SEED = 20240503  # bench/thumbor_peer.py's photo
QUALITY = codec.DEFAULT_QUALITY


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(encode: Callable[[], bytes]) -> tuple[float, bytes]:
    """CPU seconds of one encode (the machine's other load does not count) and its bytes."""
    started = cpu_seconds()
    data = encode()
    return cpu_seconds() - started, data


def ssim(photo: np.ndarray, data: bytes) -> float:
    decoded = codec.decode(data, codec.sniff(data, max_pixels=10_000_000), "gray")
    return float(structural_similarity(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), decoded))


def matched_quality(photo: np.ndarray, fmt: codec.OutputFormat, target: float) -> int:
    """The lowest quality (in steps of 5) whose SSIM reaches `target`."""
    for quality in range(30, 101, 5):
        if ssim(photo, codec.encode(photo, fmt, quality=quality)) >= target:
            return quality
    return 100


def speed_table(photo: np.ndarray, runs: int) -> None:
    print("| quality | speed | CPU ms (median) | bytes | SSIM |")
    print("|---|---|---|---|---|")
    for quality in (60, 75, 90):
        for speed in range(4, 11):
            params = [cv2.IMWRITE_AVIF_QUALITY, quality, cv2.IMWRITE_AVIF_SPEED, speed]

            def encode(params: list[int] = params) -> bytes:
                ok, buf = cv2.imencode(".avif", photo, params)
                assert ok
                return buf.tobytes()

            # speeds 4 and 5 take tens of seconds: one run says enough
            samples = [timed(encode) for _ in range(runs if speed >= 6 else 1)]
            millis = statistics.median(seconds for seconds, _ in samples) * 1000
            data = samples[0][1]
            cells = [str(quality), str(speed), f"{millis:,.0f}", f"{len(data):,}"]
            print("| " + " | ".join([*cells, f"{ssim(photo, data):.4f}"]) + " |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--speeds", action="store_true", help="AVIF speeds 4-10 instead")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    cv2.setNumThreads(1)  # as in the worker processes (execution/pools.py)
    photo = make_photo(PHOTO_SEED)
    if args.speeds:
        speed_table(photo, runs)
        return 0

    jpeg_ssim = ssim(photo, codec.encode(photo, "jpeg", quality=QUALITY))
    cases: list[tuple[str, codec.OutputFormat, int]] = [("JPEG", "jpeg", QUALITY)]
    for label, fmt in (("WebP", "webp"), ("AVIF", "avif")):
        cases.append((label, fmt, QUALITY))
        matched = matched_quality(photo, fmt, jpeg_ssim)
        if matched != QUALITY:
            cases.append((f"{label} at JPEG's SSIM", fmt, matched))
    samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    sizes: dict[str, int] = {}
    for _ in range(runs):
        for label, fmt, quality in cases:

            def encode(fmt: codec.OutputFormat = fmt, quality: int = quality) -> bytes:
                return codec.encode(photo, fmt, quality=quality)

            seconds, data = timed(encode)
            samples[label].append(seconds)
            sizes[label] = len(data)
    medians = {label: statistics.median(times) * 1000 for label, times in samples.items()}
    qualities = {label: quality for label, _, quality in cases}
    for label, _, quality in cases:
        print(
            f"{label:22} quality {quality:3}: {medians[label]:8.1f} ms CPU (median of {runs}), "
            f"{sizes[label]:>9,} bytes",
            flush=True,
        )
    reference_time = f"JPEG q{QUALITY}: {medians['JPEG']:.1f} ms CPU"
    reference_size = f"JPEG q{QUALITY}: {sizes['JPEG']:,} B (SSIM {jpeg_ssim:.4f})"
    for label, _, _ in cases[1:]:
        quality = qualities[label]
        record(
            Row(
                "formats",
                f"{label} q{quality} encode time / JPEG, 1920x1080 photo, one thread",
                f"{medians[label]:.1f} ms CPU",
                reference_time,
                medians[label] / medians["JPEG"],
            )
        )
        record(
            Row(
                "formats",
                f"{label} q{quality} size / JPEG, 1920x1080 photo",
                f"{sizes[label]:,} B",
                reference_size,
                sizes[label] / sizes["JPEG"],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
