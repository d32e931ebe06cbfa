"""Cold start: from `pixelmill serve` to a healthy `GET /health`, and the first request after it.

For each execution design (`PIXELMILL_EXECUTION`), ``--runs`` times, interleaved:

* **start to healthy**: wall time from launching `python -m pixelmill serve` to the first
  200 of `/health` (polled every 10 ms), on a data dir of an earlier start (a restart: the
  database is at its newest migration) and, once per design, on a fresh one (the first start
  ever: the database is created and migrated); beside it, the CPU time the API process had
  used by then (its own, not the forkserver's): on a shared machine the steadier figure;
* **first request**: the first `POST /v1/transform` after healthy (the transform of
  `bench/thumbor_peer.py`) against the median of the 10 after it. A first request that pays
  for lazy imports or a pool's warm-up shows as a ratio above 1.

The reference for the start is the goal, 1.5 s, and beside it a bare FastAPI app under
uvicorn (`bench/bare_fastapi.py`: no image work), started and polled the same way.

    .venv/bin/python bench/coldstart.py [--quick] [--runs 5] [--designs processes,threads]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench.collage import make_photo  # noqa: E402
from bench.report import Row, record  # noqa: E402
from bench.thumbor_peer import multipart  # noqa: E402
from tests.server import free_port  # noqa: E402

from pixelmill.config import Settings  # noqa: E402

DESIGNS = ("processes", "threads", "hybrid")
DEFAULT = str(Settings.model_fields["execution"].default)
GOAL_START_S = 1.5
GOAL_FIRST_REQUEST = 1.5  # x the median of the requests after it
POLL_S = 0.01
AFTER = 10


def start_to_healthy(
    command: list[str], env: dict[str, str], port: int, log: Path
) -> tuple[float, float | None, subprocess.Popen[bytes]]:
    """Seconds from launch to the first 200 of /health, the CPU seconds the server's own
    process had used by then (None where /proc is not), and the running server."""
    began = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = began + 120
    with httpx.Client(timeout=2) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited: {log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    return time.perf_counter() - began, cpu_seconds(process.pid), process
            time.sleep(POLL_S)
    stop(process)
    raise RuntimeError(f"{command} was not healthy within 120 s")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (not its children), from /proc: on a
    shared machine a steadier figure than the wall time, which waits for other work."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uncached_modules() -> tuple[int, int]:
    """How many of pixelmill's modules have no bytecode cached next to them, of how many: with
    PYTHONDONTWRITEBYTECODE set, a checkout's server compiles those at every start (an
    installed wheel's were compiled when it was installed)."""
    sources = list((ROOT / "src" / "pixelmill").rglob("*.py"))
    missing = 0
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            missing += 1
    return missing, len(sources)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def first_requests(port: int, body: bytes, content_type: str) -> tuple[float, float]:
    """The first transform's ms, and the median ms of the `AFTER` after it."""
    times = []
    with httpx.Client(timeout=120) as client:
        for _ in range(1 + AFTER):
            began = time.perf_counter()
            response = client.post(
                f"http://127.0.0.1:{port}/v1/transform",
                content=body,
                headers={"content-type": content_type},
            )
            times.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"/v1/transform answered {response.status_code}")
    return times[0], statistics.median(times[1:])


def spread(values: list[float], unit: str, scale: float = 1.0) -> str:
    values = [v * scale for v in values]
    return f"{statistics.median(values):.2f} {unit} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs")
    parser.add_argument("--runs", type=int, default=5, help="restarts per design (5)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated")
    args = parser.parse_args()
    if args.quick:
        args.runs = 2
    designs = args.designs.split(",")
    if set(designs) - set(DESIGNS):
        parser.error(f"designs are {', '.join(DESIGNS)}")
    ok, encoded = cv2.imencode(".jpg", make_photo(20240503), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    body, content_type = multipart(encoded.tobytes())

    fresh: dict[str, float] = {}
    restart: dict[str, list[float]] = {design: [] for design in designs}
    cpu: dict[str, list[float]] = {design: [] for design in designs}
    first: dict[str, list[float]] = {design: [] for design in designs}
    later: dict[str, list[float]] = {design: [] for design in designs}
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-coldstart-") as tmp:
        work = Path(tmp)
        for run in range(args.runs + 1):  # run 0: the first start ever, on a fresh data dir
            for design in designs[:: 1 if run % 2 == 0 else -1]:
                port = free_port()
                env = {
                    "PIXELMILL_EXECUTION": design,
                    "PIXELMILL_PORT": str(port),
                    "PIXELMILL_DATA_DIR": str(work / design / "data"),
                    "PIXELMILL_RESULTS_DIR": str(work / design / "results"),
                    "PIXELMILL_LOG_LEVEL": "WARNING",
                }
                command = [sys.executable, "-m", "pixelmill", "serve"]
                seconds, used, process = start_to_healthy(
                    command, env, port, work / f"{design}.log"
                )
                try:
                    if run == 0:
                        fresh[design] = seconds
                    else:
                        restart[design].append(seconds)
                        if used is not None:
                            cpu[design].append(used)
                        ms, median = first_requests(port, body, content_type)
                        first[design].append(ms)
                        later[design].append(median)
                finally:
                    stop(process)
                print(f"  {design}: healthy after {seconds:.2f} s", flush=True)
            if run:
                port = free_port()
                command = [
                    *(sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR)),
                    *("bare_fastapi:app", "--port", str(port), "--log-level", "warning"),
                ]
                seconds, _, process = start_to_healthy(command, {}, port, work / "bare.log")
                stop(process)
                bare.append(seconds)

    print()
    print(
        f"{'design':<12}{'first start s':>14}{'restart s (min-max)':>24}"
        f"{'API CPU s (min-max)':>24}{'first ms':>10}{'next ms':>9}"
    )
    for design in designs:
        cpu_text = spread(cpu[design], "s") if cpu[design] else "-"
        print(
            f"{design:<12}{fresh[design]:>14.2f}{spread(restart[design], 's'):>24}{cpu_text:>24}"
            f"{statistics.median(first[design]):>10.1f}{statistics.median(later[design]):>9.1f}"
        )
    print(f"{'bare FastAPI':<12}{'':>14}{spread(bare, 's'):>24}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    missing, modules = uncached_modules()
    if sys.flags.dont_write_bytecode and missing:
        print(
            f"note: PYTHONDONTWRITEBYTECODE is set and {missing} of pixelmill's {modules} "
            "modules have no fresh bytecode cache: every start above compiled them (~0.1 s "
            "of CPU that a server installed from the wheel does not spend)"
        )
    print()
    for design in designs:
        default = design == DEFAULT
        name = f"{design}{' (the default)' if default else ''}"
        record(
            Row(
                "coldstart",
                f"`pixelmill serve` start to healthy /health, {name} / goal 1.5 s",
                f"{spread(restart[design], 's')}; first start ever {fresh[design]:.2f} s"
                + (f"; API process CPU {spread(cpu[design], 's')}" if cpu[design] else ""),
                f"goal {GOAL_START_S} s; bare FastAPI app {spread(bare, 's')}",
                statistics.median(restart[design]) / GOAL_START_S,
                "<=" if default else "",
                1.0 if default else None,
            )
        )
        ratios = [a / b for a, b in zip(first[design], later[design], strict=True)]
        record(
            Row(
                "coldstart",
                f"first /v1/transform after healthy / the next {AFTER}, {name}",
                f"first: {spread(first[design], 'ms')}",
                f"next {AFTER}: {spread(later[design], 'ms')}",
                statistics.median(ratios),
                "<=" if default else "",
                GOAL_FIRST_REQUEST if default else None,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
