"""Execution designs: `PIXELMILL_EXECUTION=processes|threads|hybrid` against each other and
against thumbor, on the transform of `bench/thumbor_peer.py` (the same 1920x1080 JPEG,
``resize=0.5,grayscale,blur=5`` to a JPEG at 85; thumbor 7.8, one process, its defaults).

For each design, one `pixelmill serve` (embedded, its defaults but the design), all started
side by side with thumbor and loaded in turn, interleaved round by round:

* single-request latency: one request at a time over a keep-alive connection, median;
* 8 clients back to back (each its own keep-alive connection) for ``--seconds``: req/s, and
  p50 / p99 of every request's latency in the round;
* peak PSS of the server's whole process tree during the runs (sampled every 50 ms), and
  **memory per req/s**: peak PSS (MiB) / req/s, what a user pays for a unit of throughput;
* a native crash: a heavy transform of a TIFF (which "hybrid" sends to its isolated process
  pool) is started, and once a worker process has spent CPU on it every worker process gets
  kill -SEGV (with "threads", where there is none, the API process does: a crash in a
  decoder on a thread is the server's). Then the next request. What the client saw is
  reported: "503 ...; next 200" is the goal.

The default design (config.py) carries the goals: memory per req/s <= thumbor's, req/s >= 3x
thumbor's, the server up after the crash. The other designs are reported.

    .venv/bin/python bench/execution.py [--quick] [--runs 20] [--seconds 8] [--rounds 3]
    .venv/bin/python bench/execution.py --designs threads,hybrid --without-thumbor
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench.collage import make_photo  # noqa: E402
from bench.procs import closed_loop, process_tree  # noqa: E402
from bench.report import Row, record  # noqa: E402
from bench.thumbor_peer import (  # noqa: E402
    Server,
    Unavailable,
    pixelmill_request,
    running,
    sampling,
    thumbor_conf,
    thumbor_request,
    thumbor_venv,
    tree_memory,
)
from tests.server import free_port  # noqa: E402

from pixelmill.config import Settings  # noqa: E402

DESIGNS = ("processes", "threads", "hybrid")
DEFAULT = str(Settings.model_fields["execution"].default)
CLIENTS = 8
GOAL_MEMORY_PER_RPS = 1.0  # x thumbor's
GOAL_RPS = 3.0  # x thumbor's
HEAVY = ",".join(["resize=1"] + ["blur=101"] * 40)  # seconds of one core on 1000x1000

Send = Callable[[httpx.Client], bytes]


@dataclass
class Figures:
    single_ms: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    loaded_ms: list[float] = field(default_factory=list)  # every request of every round
    crash: str = "not measured"
    survived: bool = False


def pixelmill_server(design: str, work: Path) -> Server:
    return Server(
        design,
        [sys.executable, "-m", "pixelmill", "serve"],
        {
            "PIXELMILL_EXECUTION": design,
            "PIXELMILL_DATA_DIR": str(work / design / "data"),
            "PIXELMILL_RESULTS_DIR": str(work / design / "results"),
            "PIXELMILL_LOG_LEVEL": "WARNING",
        },
        "/health",
        work / f"{design}.log",
    )


def under_load(send: Send, clients: int, seconds: float) -> tuple[float, list[float]]:
    """req/s of `clients` threads sending back to back for `seconds`, and every latency (ms)."""
    return closed_loop(send, clients, seconds)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def crash_probe(server: Server, tiff: bytes) -> tuple[str, bool]:
    """kill -SEGV the worker processes (the API process without any) in the middle of a
    heavy request; what that request and the next one got, and whether the server is up."""
    assert server.process is not None
    root = server.process.pid
    before = {pid: _cpu_ticks(pid) for pid in [root, *_workers(root)]}
    answer: list[str] = []

    def heavy() -> None:
        try:
            response = httpx.post(
                server.url + "/v1/transform",
                files={"file": ("big.tiff", tiff)},
                data={"ops": HEAVY, "format": "png"},
                timeout=120,
            )
            detail = response.json().get("detail", "") if response.status_code != 200 else ""
            answer.append(f"{response.status_code} {detail!r}".strip())
        except httpx.HTTPError as error:
            answer.append(type(error).__name__)

    request = threading.Thread(target=heavy)
    request.start()
    deadline = time.monotonic() + 60
    # in the middle: once a process (hybrid starts its first worker for this request) has
    # spent CPU on it; with no worker process at all, the API process
    while True:
        workers = _workers(root)
        targets = workers or [root]
        if any(_cpu_ticks(pid) - before.get(pid, 0) >= 20 for pid in targets):
            break
        if time.monotonic() > deadline or not request.is_alive():
            request.join()
            return f"no process took the request ({answer})", False
        time.sleep(0.05)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSEGV)
    request.join(120)
    try:
        following = httpx.post(
            server.url + "/v1/transform",
            files={"file": ("next.png", _encode(make_photo(7)[:240, :320], ".png"))},
            data={"ops": "resize=0.5", "format": "png"},
            timeout=60,
        ).status_code
        next_text = str(following)
    except httpx.HTTPError as error:
        following, next_text = 0, type(error).__name__
    up = server.process.poll() is None and following == 200
    where = f"{len(workers)} worker(s)" if workers else "the API process"
    return f"kill -SEGV {where}: {answer[0]}; next: {next_text}", up


def _workers(root: int) -> list[int]:
    """The worker processes: children of the server's children (its forkserver)."""
    children = set(process_tree(root)) - {root}
    return [pid for pid in children if _parent(pid) in children]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _encode(image: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def measure(
    servers: list[Server], sends: dict[str, Send], args: argparse.Namespace
) -> dict[str, Figures]:
    figures = {server.name: Figures() for server in servers}
    with contextlib.ExitStack() as stack:
        clients = {s.name: stack.enter_context(httpx.Client(timeout=120)) for s in servers}
        for _ in range(3):  # warm-up: connections
            for server in servers:
                sends[server.name](clients[server.name])
        for server in servers:
            assert server.process is not None
            server.idle_pss_kib = tree_memory(server.process.pid)[0]
        with sampling(servers):
            for run in range(args.runs):
                for server in servers[:: 1 if run % 2 == 0 else -1]:
                    began = time.perf_counter()
                    sends[server.name](clients[server.name])
                    figures[server.name].single_ms.append((time.perf_counter() - began) * 1000)
            for round_ in range(args.rounds):
                for server in servers[:: 1 if round_ % 2 == 0 else -1]:
                    rate, latencies = under_load(sends[server.name], CLIENTS, args.seconds)
                    figures[server.name].rps.append(rate)
                    figures[server.name].loaded_ms += latencies
                    print(
                        f"  round {round_ + 1}: {server.name} {rate:.1f} req/s, p50 "
                        f"{percentile(latencies, 0.5):.0f} ms, p99 "
                        f"{percentile(latencies, 0.99):.0f} ms",
                        flush=True,
                    )
    return figures


def per_rps(server: Server, figures: Figures) -> float:
    return server.peak_pss_kib / 1024 / statistics.median(figures.rps)


def report(servers: list[Server], figures: dict[str, Figures], thumbor: Server | None) -> None:
    print()
    print(
        f"{'server':<12}{'single ms':>10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'idle PSS':>10}{'peak PSS':>10}{'MiB per req/s':>15}  native crash"
    )
    for server in servers:
        one = figures[server.name]
        print(
            f"{server.name:<12}{statistics.median(one.single_ms):>10.1f}"
            f"{statistics.median(one.rps):>8.1f}{percentile(one.loaded_ms, 0.5):>8.0f}"
            f"{percentile(one.loaded_ms, 0.99):>8.0f}{server.idle_pss_kib / 1024:>10.0f}"
            f"{server.peak_pss_kib / 1024:>10.0f}{per_rps(server, one):>15.2f}  {one.crash}"
        )
    print()
    theirs = figures[thumbor.name] if thumbor is not None else None
    for server in servers:
        if server is thumbor:
            continue
        one = figures[server.name]
        default = server.name == DEFAULT
        name = f"{server.name}{' (the default)' if default else ''}"
        mine = (
            f"{server.peak_pss_kib / 1024:.0f} MiB / {statistics.median(one.rps):.1f} req/s "
            f"= {per_rps(server, one):.2f}"
        )
        if thumbor is not None and theirs is not None:
            record(
                Row(
                    "execution",
                    f"/v1/transform peak PSS per req/s, 8 clients, {name} / thumbor",
                    mine,
                    f"thumbor: {thumbor.peak_pss_kib / 1024:.0f} MiB / "
                    f"{statistics.median(theirs.rps):.1f} req/s = {per_rps(thumbor, theirs):.2f}",
                    per_rps(server, one) / per_rps(thumbor, theirs),
                    "<=" if default else "",
                    GOAL_MEMORY_PER_RPS if default else None,
                )
            )
            record(
                Row(
                    "execution",
                    f"/v1/transform req/s, 8 clients, {name} / thumbor",
                    f"{statistics.median(one.rps):.1f} req/s",
                    f"thumbor: {statistics.median(theirs.rps):.1f} req/s",
                    statistics.median(one.rps) / statistics.median(theirs.rps),
                    ">=" if default else "",
                    GOAL_RPS if default else None,
                )
            )
            record(
                Row(
                    "execution",
                    f"/v1/transform p99 under 8 clients, thumbor / {name}",
                    f"p50 {percentile(one.loaded_ms, 0.5):.0f} ms, "
                    f"p99 {percentile(one.loaded_ms, 0.99):.0f} ms",
                    f"thumbor: p50 {percentile(theirs.loaded_ms, 0.5):.0f} ms, "
                    f"p99 {percentile(theirs.loaded_ms, 0.99):.0f} ms",
                    percentile(theirs.loaded_ms, 0.99) / percentile(one.loaded_ms, 0.99),
                )
            )
        record(
            Row(
                "execution",
                f"kill -SEGV mid-request, {name}: server up and serving (1) or not (0)",
                one.crash,
                "the request a 503, the next one served",
                1.0 if one.survived else 0.0,
                ">=" if default else "",
                1.0 if default else None,
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter rounds")
    parser.add_argument("--runs", type=int, default=20, help="single requests per server (20)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per round (8)")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds (3)")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated")
    parser.add_argument("--without-thumbor", action="store_true", help="pixelmill only")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds, args.rounds = 6, 4.0, 1
    designs = args.designs.split(",")
    if set(designs) - set(DESIGNS):
        parser.error(f"designs are {', '.join(DESIGNS)}")
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-execution-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        jpeg = _encode_jpeg(make_photo(20240503))
        (images / "photo.jpg").write_bytes(jpeg)
        servers = [pixelmill_server(design, work) for design in designs]
        thumbor: Server | None = None
        if not args.without_thumbor:
            try:
                venv = thumbor_venv()
                conf = thumbor_conf(work, images)
                command = [str(venv / "bin" / "thumbor"), "--ip", "127.0.0.1", "--conf", str(conf)]
                thumbor = Server(
                    "thumbor", [*command, "-l", "warning"], {}, "/healthcheck", work / "thumbor.log"
                )
            except Unavailable as error:
                print(f"thumbor not measured: {error}", flush=True)
        everyone = servers + ([thumbor] if thumbor is not None else [])
        with contextlib.ExitStack() as stack:
            for server in everyone:
                server.port = free_port()
                if server is thumbor:
                    server.command += ["--port", str(server.port)]
                else:
                    server.env["PIXELMILL_PORT"] = str(server.port)
                stack.enter_context(running(server))
            sends: dict[str, Send] = {s.name: pixelmill_request(s, jpeg) for s in servers}
            if thumbor is not None:
                sends[thumbor.name] = thumbor_request(thumbor)
            figures = measure(everyone, sends, args)
            tiff = _encode(make_photo(11)[:1000, :1000], ".tiff")
            for server in servers:
                figures[server.name].crash, figures[server.name].survived = crash_probe(
                    server, tiff
                )
                print(f"  {server.name}: {figures[server.name].crash}", flush=True)
        report(everyone, figures, thumbor)
    return 0


def _encode_jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


if __name__ == "__main__":
    sys.exit(main())
