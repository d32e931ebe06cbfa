"""Pipeline benchmark: `pixelmill run` over many files against a plain single-process loop.

200 photo-like 1024x768 JPEGs go through `resize=0.5,grayscale,blur=5`, twice interleaved:

* ``pixelmill run``: the command as users run it (process start, pool start-up, progress
  bar off, the worker processes, atomic writes), timed from launch to exit;
* ``plain loop``: the same work as a plain script (this file with ``--plain-loop``), one
  file after the other, one thread (``cv2.setNumThreads(1)``): read, decode, resize
  (INTER_AREA), gray, blur, encode, write; timed from launch to exit like the command, so
  both pay for starting Python and importing OpenCV.

Prints medians, the speedup and how close it comes to the number of CPUs available.

    .venv/bin/python bench/pipeline.py [--images 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import Row, record

OPS = "resize=0.5,grayscale,blur=5"
WIDTH, HEIGHT = 1024, 768


def make_inputs(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) % 256], -1).astype(np.uint8)
    paths = []
    for i in range(count):
        image = np.roll(base, i * 7, axis=1).copy()
        cv2.circle(
            image,
            (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))),
            120,
            (250, 250, 250),
            -1,
        )
        noisy = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        path = folder / f"img{i:03d}.jpg"
        cv2.imwrite(str(path), noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def plain_loop(paths: list[Path], out: Path) -> float:
    cv2.setNumThreads(1)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(out / path.name), cv2.GaussianBlur(gray, (5, 5), 0))
    return time.perf_counter() - started


def plain_script(paths: list[Path], out: Path) -> float:
    command = [sys.executable, __file__, "--plain-loop", str(out), *map(str, paths)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def pixelmill_run(paths: list[Path], out: Path, workdir: Path) -> float:
    command = [str(Path(sys.executable).with_name("pixelmill")), "run", *map(str, paths)]
    command += ["--ops", OPS, "--out", str(out)]
    env = {**os.environ, "PIXELMILL_DATA_DIR": str(workdir / "data")}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pixelmill run failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 run")
    parser.add_argument("--plain-loop", nargs="+", metavar=("OUT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_loop:
        out, *files = args.plain_loop
        plain_loop([Path(f) for f in files], Path(out))
        return 0
    if args.quick:
        args.runs = 1
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        paths = make_inputs(work / "in", args.images)
        ours, plain = [], []
        for run in range(args.runs):
            for name, samples, action in (
                ("pixelmill run", ours, lambda o: pixelmill_run(paths, o, work)),
                ("plain loop", plain, lambda o: plain_script(paths, o)),
            ):
                out = work / f"out-{run}-{len(samples)}-{name[0]}"
                samples.append(action(out))
                print(f"  run {run + 1}/{args.runs}: {name} {samples[-1]:.2f} s", flush=True)
                shutil.rmtree(out)
    mine, theirs = statistics.median(ours), statistics.median(plain)
    print(f"\n{args.images} images {WIDTH}x{HEIGHT}, ops {OPS!r}, {cpus} CPUs")
    print(f"{'name':<16}{'median s':>10}{'images/s':>10}   min-max s")
    for name, samples in (("pixelmill run", ours), ("plain loop", plain)):
        median = statistics.median(samples)
        spread = f"{min(samples):.2f}-{max(samples):.2f}"
        print(f"{name:<16}{median:>10.2f}{args.images / median:>10.1f}   {spread}")
    speedup = theirs / mine
    print(
        f"\nplain loop / pixelmill run = {speedup:.2f}x (ideal: {cpus}x, the CPUs available; "
        f"{speedup / cpus:.0%} of it)"
    )
    record(
        Row(
            "pipeline",
            f"`pixelmill run`, {args.images} JPEGs, speedup over a plain loop ({cpus} CPUs)",
            f"{mine:.2f} s",
            f"plain single-process loop: {theirs:.2f} s",
            speedup,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
