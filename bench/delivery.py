"""Delivery benchmark: pixelmill's `GET /img/...` against thumbor's `GET /unsafe/WxH/...` on the
same 1920x1080 JPEG, both fitting it to a box and cropping the rest (cover, centred).

* uncached: 8 clients (threads, each with its own keep-alive connection), every request a box
  never asked before (so neither pixelmill's result cache nor anything else can answer it):
  pixelmill ``/img/unsafe/fit=WxH,quality=80/local/photo.jpg``, thumbor
  ``/unsafe/WxH/photo.jpg`` (its default quality, 80; its result storage off, as by default);
  requests/s and p99 latency;
* cached: pixelmill only, 8 clients asking again and again for 32 results already made:
  cache hits, which read one file and decode nothing; requests/s and p99.

At equal CPUs: pixelmill runs a worker process per CPU (its default); thumbor runs
``--processes N`` with N the CPUs available. Rounds are interleaved so that load from other
processes hits both alike; the median round is reported. Goals: uncached at least 3x thumbor's
requests/s, cache hits at least 10x thumbor's uncached requests/s.

thumbor is installed as bench/thumbor_peer.py installs it (its own virtual environment); when
it cannot be, the figures are recorded as not measured and the script exits 0.

    .venv/bin/python bench/delivery.py [--quick] [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.collage import make_photo  # noqa: E402
from bench.report import Row, record, skipped  # noqa: E402
from bench.thumbor_peer import (  # noqa: E402
    Server,
    Unavailable,
    running,
    thumbor_conf,
    thumbor_venv,
    thumbor_version,
)
from tests.server import free_port  # noqa: E402

IMAGE = "photo.jpg"
CLIENTS = 8
CACHED_RESULTS = 32
BENCH = "delivery"
FIGURES = (
    "/img uncached req/s (a new box each request), 8 clients, vs thumbor",
    "/img cache hits req/s, 8 clients, vs thumbor uncached",
    "/img uncached p99 latency, thumbor / pixelmill",
)
Url = Callable[[int], str]


def boxes(start: int) -> Callable[[], tuple[int, int]]:
    """A fresh box on every call (thread-safe: itertools.count under the GIL)."""
    counter = itertools.count(start)

    def box() -> tuple[int, int]:
        i = next(counter)
        return 120 + i % 997, 90 + (i * 7919) % 701

    return box


def load(url_of: Callable[[], str], seconds: float) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of CLIENTS threads asking `url_of()` for `seconds`."""
    latencies: list[float] = []
    failures: list[str] = []
    stop = time.monotonic() + seconds
    start = threading.Barrier(CLIENTS)

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(timeout=60) as http:
            start.wait()
            while time.monotonic() < stop:
                url = url_of()
                began = time.perf_counter()
                response = http.get(url)
                if response.status_code != 200:
                    failures.append(f"{url}: {response.status_code} {response.text[:200]}")
                    return
                mine.append((time.perf_counter() - began) * 1000)
        latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(failures[0])
    elapsed = time.monotonic() - began
    p99 = float(np.percentile(latencies, 99)) if latencies else float("nan")
    return len(latencies) / elapsed, p99


def checked(url: str, size: tuple[int, int]) -> np.ndarray:
    """The JPEG `url` answers, which must be exactly `size` (width, height)."""
    response = httpx.get(url, timeout=60)
    response.raise_for_status()
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    if image is None or (image.shape[1], image.shape[0]) != size:
        shape = None if image is None else image.shape
        raise RuntimeError(f"{url} answered {shape}, not a {size[0]}x{size[1]} JPEG")
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per run (8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 3.0, 1
    try:
        venv = thumbor_venv()
    except Unavailable as error:
        print(f"delivery benchmark skipped: thumbor could not be installed: {error}")
        for figure in FIGURES:
            skipped(BENCH, figure, "thumbor could not be installed")
        return 0
    cpus = len(os.sched_getaffinity(0))
    print(f"delivery benchmark: pixelmill against {thumbor_version(venv)}; {cpus} CPUs")
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp:
        work = Path(tmp)
        images = work / "data" / "files"
        images.mkdir(parents=True)
        ok, encoded = cv2.imencode(".jpg", make_photo(20240503), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        (images / IMAGE).write_bytes(encoded.tobytes())
        pixelmill = Server(
            "pixelmill",
            [sys.executable, "-m", "pixelmill", "serve"],
            {
                "PIXELMILL_DATA_DIR": str(work / "data"),
                "PIXELMILL_RESULTS_DIR": str(work / "results"),
                "PIXELMILL_LOG_LEVEL": "WARNING",
                "PIXELMILL_URL_UNSAFE": "true",  # as thumbor's /unsafe/: no signing either side
            },
            "/health",
            work / "pixelmill.log",
        )
        conf = thumbor_conf(work, images)
        command = [str(venv / "bin" / "thumbor"), "--ip", "127.0.0.1", "--conf", str(conf)]
        command += ["-l", "warning", "--processes", str(cpus)]
        thumbor = Server(f"thumbor --processes {cpus}", command, {}, "/healthcheck", work / "t.log")
        with contextlib.ExitStack() as stack:
            for server in (pixelmill, thumbor):
                server.port = free_port()
                if server is pixelmill:
                    server.env["PIXELMILL_PORT"] = str(server.port)
                else:
                    server.command += ["--port", str(server.port)]
                try:
                    stack.enter_context(running(server))
                except Unavailable as error:
                    if server is pixelmill:
                        raise
                    print(f"delivery benchmark skipped: thumbor did not start: {error}")
                    for figure in FIGURES:
                        skipped(BENCH, figure, "thumbor did not start")
                    return 0

            def ours(box: tuple[int, int]) -> str:
                return f"{pixelmill.url}/img/unsafe/fit={box[0]}x{box[1]},quality=80/local/{IMAGE}"

            def theirs(box: tuple[int, int]) -> str:
                return f"{thumbor.url}/unsafe/{box[0]}x{box[1]}/{IMAGE}"

            a = checked(ours((300, 200)), (300, 200))
            b = checked(theirs((300, 200)), (300, 200))
            difference = float(np.abs(a.astype(np.int16) - b).mean())
            print(f"OK   both answer 300x200 JPEGs, {difference:.1f} levels apart on average")
            cached = [ours((100 + i, 100 + i)) for i in range(CACHED_RESULTS)]
            for url in cached:
                httpx.get(url, timeout=60).raise_for_status()
            picks = itertools.cycle(cached)

            rounds: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": [], "hits": []}
            for round_ in range(args.rounds):
                mine, other = boxes(1000 * round_ + 500), boxes(1000 * round_ + 500)
                rounds["ours"].append(load(lambda box=mine: ours(box()), args.seconds))
                rounds["theirs"].append(load(lambda box=other: theirs(box()), args.seconds))
                rounds["hits"].append(load(lambda: next(picks), args.seconds))
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(
                        f"{k} {rps:.1f} req/s p99 {p99:.0f} ms"
                        for k, (rps, p99) in ((k, v[-1]) for k, v in rounds.items())
                    ),
                    flush=True,
                )
    ours_rps, ours_p99 = median(rounds["ours"])
    theirs_rps, theirs_p99 = median(rounds["theirs"])
    hits_rps, hits_p99 = median(rounds["hits"])
    record(
        Row(
            BENCH,
            FIGURES[0],
            f"{ours_rps:.1f} req/s (p99 {ours_p99:.0f} ms)",
            f"{theirs_rps:.1f} req/s (p99 {theirs_p99:.0f} ms)",
            ours_rps / theirs_rps,
            ">=",
            3.0,
        )
    )
    record(
        Row(
            BENCH,
            FIGURES[1],
            f"{hits_rps:.0f} req/s (p99 {hits_p99:.1f} ms)",
            f"{theirs_rps:.1f} req/s",
            hits_rps / theirs_rps,
            ">=",
            10.0,
        )
    )
    record(
        Row(BENCH, FIGURES[2], f"{ours_p99:.0f} ms", f"{theirs_p99:.0f} ms", theirs_p99 / ours_p99)
    )
    return 0


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The run with the median requests/s."""
    ordered = sorted(runs)
    return ordered[len(ordered) // 2] if ordered else (float("nan"), float("nan"))


if __name__ == "__main__":
    sys.exit(main())
