"""Retained memory: what the server's process tree holds after big work, with and without
giving free memory back (`PIXELMILL_MEMORY_TRIM_SECONDS`: glibc's malloc_trim once a
process has been idle that long) and with a cap on malloc arenas (`PIXELMILL_MALLOC_ARENAS`),
and what each costs in speed.

For each configuration, one `pixelmill serve` (the default execution design unless
``--design``), in turn:

1. idle tree PSS after start;
2. one big collage (`POST /process`, four 4000x3000 JPEGs: a 8000x6000 canvas), its peak,
   and the tree's PSS ``--settle`` seconds after it: the retained memory;
3. `/v1/transform` (the transform of `bench/thumbor_peer.py`) by 8 clients for
   ``--seconds``: req/s and peak PSS; then PSS again ``--settle`` seconds after.

Configurations: no trim (glibc's behaviour with pixelmill's raised thresholds, as before
these settings), trim after 1 s idle, and trim with one malloc arena per process. glibc's
malloc_trim gives back free memory inside every arena, but not the top of a thread's arena
(only the main arena's), so a band or job thread's buffers stay unless the threads share
the main arena.

    .venv/bin/python bench/memory.py [--quick] [--seconds 8] [--settle 3] [--design threads]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench.collage import make_photo  # noqa: E402
from bench.execution import under_load  # noqa: E402
from bench.report import Row, record  # noqa: E402
from bench.thumbor_peer import Server, pixelmill_request, running, sampling, tree_memory  # noqa: E402
from tests.server import free_port  # noqa: E402

from pixelmill.config import Settings  # noqa: E402

DEFAULT_DESIGN = str(Settings.model_fields["execution"].default)
DEFAULT_TRIM = Settings.model_fields["memory_trim_seconds"].default
DEFAULT_ARENAS = Settings.model_fields["malloc_arenas"].default
CONFIGS = {  # name: (memory_trim_seconds, malloc_arenas); "" is unset
    "no trim, glibc's arenas": ("", ""),
    f"trim after {DEFAULT_TRIM:g} s idle, glibc's arenas": (f"{DEFAULT_TRIM:g}", ""),
    f"trim after {DEFAULT_TRIM:g} s idle, 1 arena": (f"{DEFAULT_TRIM:g}", "1"),
}
DEFAULT_CONFIG = next(
    name
    for name, (trim, arenas) in CONFIGS.items()
    if trim == f"{DEFAULT_TRIM:g}"
    and arenas == ("" if DEFAULT_ARENAS is None else str(DEFAULT_ARENAS))
)
GOAL_SPEED = 0.95  # req/s with the default trim / without: trimming must not slow the load


@dataclass
class Result:
    idle: float = 0.0
    collage_peak: float = 0.0
    after_collage: float = 0.0
    rps: float = 0.0
    load_peak: float = 0.0
    after_load: float = 0.0


def big_collage(count: int = 4) -> list[tuple[str, tuple[str, bytes, str]]]:
    photo = make_photo(77)  # 1920x1080
    big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    files = []
    for index in range(count):
        ok, data = cv2.imencode(
            ".jpg", np.roll(big, index * 97, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        assert ok
        name = f"image{index + 1}" if index < 2 else "images"
        files.append((name, (f"big{index}.jpg", data.tobytes(), "image/jpeg")))
    return files


def mib(server: Server) -> float:
    assert server.process is not None
    return tree_memory(server.process.pid)[0] / 1024


def measure(server: Server, jpeg: bytes, collage: list, args: argparse.Namespace) -> Result:
    result = Result()
    time.sleep(args.settle)
    result.idle = mib(server)
    with sampling([server]):
        response = httpx.post(server.url + "/process", files=collage, timeout=300)
        if response.status_code != 200:
            raise RuntimeError(f"/process answered {response.status_code}: {response.text}")
    result.collage_peak = server.peak_pss_kib / 1024
    time.sleep(args.settle)
    result.after_collage = mib(server)
    server.peak_pss_kib = 0
    send = pixelmill_request(server, jpeg)
    with sampling([server]):
        result.rps, _ = under_load(send, 8, args.seconds)
    result.load_peak = server.peak_pss_kib / 1024
    time.sleep(args.settle)
    result.after_load = mib(server)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, 4 s of load")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of load (8)")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before PSS (3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the configs (2)")
    parser.add_argument("--design", default=DEFAULT_DESIGN, help="PIXELMILL_EXECUTION")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 4.0, 1
    ok, encoded = cv2.imencode(".jpg", make_photo(20240503), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    jpeg = encoded.tobytes()
    collage = big_collage()
    results: dict[str, list[Result]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-memory-") as tmp:
        work = Path(tmp)
        for round_ in range(args.rounds):
            names = list(CONFIGS)[:: 1 if round_ % 2 == 0 else -1]
            for name in names:
                server = Server(
                    name,
                    [sys.executable, "-m", "pixelmill", "serve"],
                    {
                        "PIXELMILL_MEMORY_TRIM_SECONDS": CONFIGS[name][0],
                        "PIXELMILL_MALLOC_ARENAS": CONFIGS[name][1],
                        "PIXELMILL_EXECUTION": args.design,
                        "PIXELMILL_DATA_DIR": str(work / "data"),
                        "PIXELMILL_RESULTS_DIR": str(work / "results"),
                        "PIXELMILL_LOG_LEVEL": "WARNING",
                    },
                    "/health",
                    work / "server.log",
                )
                server.port = free_port()
                server.env["PIXELMILL_PORT"] = str(server.port)
                with contextlib.ExitStack() as stack:
                    stack.enter_context(running(server))
                    one = measure(server, jpeg, collage, args)
                results[name].append(one)
                print(
                    f"  {name}: idle {one.idle:.0f} MiB, collage peak {one.collage_peak:.0f}, "
                    f"after {one.after_collage:.0f}; {one.rps:.1f} req/s, peak "
                    f"{one.load_peak:.0f}, after {one.after_load:.0f}",
                    flush=True,
                )

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(one, field) for one in results[name])

    print()
    print(f"design: {args.design}; PSS of the whole tree in MiB, {args.settle:g} s after each step")
    print(
        f"{'config':<40}{'idle':>7}{'collage peak':>14}{'after collage':>15}{'req/s':>8}"
        f"{'load peak':>11}{'after load':>12}"
    )
    for name in CONFIGS:
        print(
            f"{name:<40}{median(name, 'idle'):>7.0f}{median(name, 'collage_peak'):>14.0f}"
            f"{median(name, 'after_collage'):>15.0f}{median(name, 'rps'):>8.1f}"
            f"{median(name, 'load_peak'):>11.0f}{median(name, 'after_load'):>12.0f}"
        )
    print()
    base, *others = list(CONFIGS)
    for name in others:
        default = name == DEFAULT_CONFIG
        record(
            Row(
                "memory",
                f"tree PSS {args.settle:g} s after a big collage, {name} / no trim",
                f"{median(name, 'after_collage'):.0f} MiB "
                f"(peak {median(name, 'collage_peak'):.0f})",
                f"no trim: {median(base, 'after_collage'):.0f} MiB "
                f"(peak {median(base, 'collage_peak'):.0f})",
                median(name, "after_collage") / median(base, "after_collage"),
            )
        )
        record(
            Row(
                "memory",
                f"/v1/transform req/s, 8 clients, {name} / no trim",
                f"{median(name, 'rps'):.1f} req/s (peak PSS {median(name, 'load_peak'):.0f} MiB)",
                f"no trim: {median(base, 'rps'):.1f} req/s "
                f"(peak PSS {median(base, 'load_peak'):.0f} MiB)",
                median(name, "rps") / median(base, "rps"),
                ">=" if default else "",
                GOAL_SPEED if default else None,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
