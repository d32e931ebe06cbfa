"""The processes of `pixelmill serve` live and end with it.

* A SIGTERM sent to every process of the server at once (systemd's default
  `KillMode=control-group`, `kill -TERM -<pgid>`) drains the server: the request whose work
  is running in a worker process is answered in full, then every process ends.
* A server killed outright (kill -9, the OOM killer) leaves no process behind: its workers
  and their forkserver end with it.

On "hybrid" a TIFF goes to the isolated worker pool (pipeline.isolated), so the worker is
really in the middle of the request when the signal comes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from tests.execution.test_native_crash import _workers, busy_workers, post_heavy
from tests.images import encode, photo
from tests.processes import parents
from tests.server import running_server


def _tree(root: int) -> set[int]:
    """`root` and every process below it."""
    family = parents()
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in family.items() if parent in found} - found
        grew, found = bool(more), found | more
    return {pid for pid in found if pid in family}


def _alive(pids: set[int]) -> set[int]:
    family = parents()
    return {pid for pid in pids if pid in family and _state(pid) != "Z"}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    """The processes of `pids` still alive after waiting up to `seconds` for them to end."""
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


def test_sigterm_to_every_process_finishes_the_request_in_a_worker_then_all_end(
    tmp_path: Path,
) -> None:
    env = {"PIXELMILL_EXECUTION": "hybrid", "PIXELMILL_DRAIN_SECONDS": "0.5"}
    with running_server(tmp_path, env=env) as url:
        health = httpx.get(f"{url}/health")
        server = int(health.headers["x-pixelmill-process"].rsplit(":", 1)[1])
        answer: list[httpx.Response] = []
        request = post_heavy(url, encode(photo(1000, 1000, seed=9), ".tiff"), answer)
        workers = busy_workers(server, request)
        everyone = _tree(server)
        assert set(workers) <= everyone and len(everyone) >= 3  # server, forkserver, worker
        for pid in everyone:  # as a service manager stops a cgroup: all at once
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        request.join(120)
        (response,) = answer
        assert response.status_code == 200, response.text
        result = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert result is not None and result.shape[:2] == (1000, 1000)
        assert _gone_within(everyone, 30) == set()


def test_a_server_killed_outright_leaves_no_worker_or_forkserver_behind(
    tmp_path: Path,
) -> None:
    env = {"PIXELMILL_EXECUTION": "hybrid"}
    with running_server(tmp_path, env=env) as url:
        health = httpx.get(f"{url}/health")
        server = int(health.headers["x-pixelmill-process"].rsplit(":", 1)[1])
        tiff = encode(photo(64, 64, seed=3), ".tiff")
        made = httpx.post(
            f"{url}/v1/transform",
            files={"file": ("small.tiff", tiff)},
            data={"ops": "blur=3", "format": "png"},
            timeout=60,
        )
        assert made.status_code == 200, made.text
        workers = _workers(server)
        assert workers, "no isolated worker process started for the TIFF"
        everyone = _tree(server)
        os.kill(server, signal.SIGKILL)
        assert _gone_within(everyone, 30) == set()
