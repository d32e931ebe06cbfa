"""A native crash (kill -SEGV) in a worker process in the middle of a request: that request
gets a 503 that says what happened, the server stays up and serves the next one.

Run on each design with worker processes. On "hybrid" the request is a TIFF, which goes to
the isolated process pool (pipeline.isolated); with "threads" there is no worker process, and
a crash in a decoder ends the server (the trade docs/performance.md records).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.images import encode, photo
from tests.processes import parents as process_parents
from tests.server import running_server

# Seconds of work on one core: 40 wide blurs of a 1000×1000 image.
HEAVY = ",".join(["resize=1"] + ["blur=101"] * 40)


def _workers(server: int) -> list[int]:
    """The worker processes: the server's grandchildren (children of its forkserver)."""
    parents = process_parents()
    children = {pid for pid, parent in parents.items() if parent == server}
    return [pid for pid, parent in parents.items() if parent in children]


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def post_heavy(url: str, tiff: bytes, answer: list[httpx.Response]) -> threading.Thread:
    """POST seconds of work on `tiff` to /v1/transform on a thread; its response in `answer`."""
    request = threading.Thread(
        target=lambda: answer.append(
            httpx.post(
                f"{url}/v1/transform",
                files={"file": ("big.tiff", tiff)},
                data={"ops": HEAVY, "format": "png"},
                timeout=120,
            )
        )
    )
    request.start()
    return request


def busy_workers(
    server: int, request: threading.Thread, before: dict[int, int] | None = None
) -> list[int]:
    """The worker processes, once one of them (hybrid starts its first one for this request)
    has spent CPU on `request` since `before` (CPU ticks by pid): in the middle of it."""
    deadline = time.monotonic() + 60
    while True:
        workers = _workers(server)
        if any(_cpu_ticks(pid) - (before or {}).get(pid, 0) >= 20 for pid in workers):
            return workers
        assert time.monotonic() < deadline, "no worker process started on the request"
        assert request.is_alive(), "the request ended before a worker took it"
        time.sleep(0.05)


@pytest.mark.parametrize("execution", ["processes", "hybrid"])
def test_segfault_in_a_worker_is_a_503_and_the_server_goes_on(
    tmp_path: Path, execution: str
) -> None:
    env = {"PIXELMILL_EXECUTION": execution, "PIXELMILL_PROCESS_WORKERS": "2"}
    tiff = encode(photo(1000, 1000, seed=9), ".tiff")
    with running_server(tmp_path, env=env) as url:
        health = httpx.get(f"{url}/health")
        server = int(health.headers["x-pixelmill-process"].rsplit(":", 1)[1])
        before = {pid: _cpu_ticks(pid) for pid in _workers(server)}
        answer: list[httpx.Response] = []
        request = post_heavy(url, tiff, answer)
        workers = busy_workers(server, request, before)
        for pid in workers:  # the real signal, from outside, as a decoder's bug would raise
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSEGV)
        request.join(120)
        (crashed,) = answer
        assert crashed.status_code == 503, crashed.text
        assert "worker process died" in crashed.json()["detail"]

        following = httpx.post(
            f"{url}/v1/transform",
            files={"file": ("next.tiff", encode(photo(64, 48, seed=2), ".tiff"))},
            data={"ops": "resize=0.5", "format": "png"},
            timeout=60,
        )
        assert following.status_code == 200, following.text
        assert following.headers["content-type"] == "image/png"
        after = httpx.get(f"{url}/health")
        assert after.status_code == 200, after.text
        assert after.headers["x-pixelmill-process"] == health.headers["x-pixelmill-process"]
        assert after.json()["components"]["workers"]["restarts"] >= 1
