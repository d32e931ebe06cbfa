"""`/health/live` and `/health/ready` on a real `pixelmill serve`, where `/health` says 503.

What a Kubernetes probe (or any load balancer) sees: with its background services scaled to
zero, then with Redis gone, the process stays live and ready (and does the work that needs
no Redis), while `/health` reports the outage; after SIGTERM with `PIXELMILL_DRAIN_SECONDS`
it stays live but is no longer ready.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from pixelmill.services.registry import SERVICES
from tests.images import encode, photo
from tests.redis_server import RedisServer
from tests.server import free_port, start_pixelmill, stop, wait_healthy


def serve(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...] = ("serve",)
) -> tuple[str, Path, subprocess.Popen[bytes]]:
    """`pixelmill ARGS` (serve) with ENV on a free port; its URL, log and process."""
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_pixelmill(
        list(args),
        {
            "PIXELMILL_PORT": str(port),
            "PIXELMILL_DATA_DIR": str(tmp_path / "data"),
            "PIXELMILL_RESULTS_DIR": str(tmp_path / "results"),
            "PIXELMILL_PROCESS_WORKERS": "1",
            "PIXELMILL_THREAD_WORKERS": "1",
            **env,
        },
        log,
    )
    return f"http://127.0.0.1:{port}", log, process


def statuses(url: str) -> dict[str, int]:
    paths = ("/health", "/health/live", "/health/ready")
    return {path: httpx.get(url + path, timeout=10).status_code for path in paths}


@pytest.mark.redis
def test_live_and_ready_while_the_services_are_at_zero_and_while_redis_is_down(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    url, log, process = serve(
        tmp_path, {"PIXELMILL_REDIS_URL": own_redis.url, "PIXELMILL_RUN_WORKERS": "false"}
    )
    try:
        wait_healthy(url, process, log, statuses=(503,))
        # no worker consumes (KEDA scaled them to zero): /health names them, probes pass
        health = httpx.get(url + "/health", timeout=10).json()
        assert set(health["failing"]) == {service.name for service in SERVICES}
        assert statuses(url) == {"/health": 503, "/health/live": 200, "/health/ready": 200}

        own_redis.stop()
        health = httpx.get(url + "/health", timeout=10)
        assert health.status_code == 503 and "queue" in health.json()["failing"]
        assert statuses(url) == {"/health": 503, "/health/live": 200, "/health/ready": 200}
        for path in ("/health/live", "/health/ready"):
            head = httpx.head(url + path, timeout=10)
            assert (head.status_code, head.content) == (200, b"")
        ready = httpx.get(url + "/health/ready", timeout=10).json()
        assert ready["status"] == "ok" and set(ready["components"]) == {"workers", "results_dir"}

        # what ready promises: the work that needs no Redis is done, the rest says why not
        image = photo(64, 48, seed=3)
        transform = httpx.post(
            url + "/v1/transform",
            files={"file": ("a.png", encode(image))},
            data={"ops": "grayscale", "format": "png"},
            timeout=60,
        )
        assert transform.status_code == 200, transform.text
        gray = cv2.imdecode(np.frombuffer(transform.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert gray is not None and gray.shape == (48, 64)
        caption = httpx.post(
            url + "/api/images",
            files={"image": ("a.png", encode(image))},
            data={"description": "redis is down"},
            timeout=60,
        )
        assert caption.status_code == 503 and caption.json()["detail"]
    finally:
        stop(process)


def test_ready_is_503_while_draining_and_live_stays_200(tmp_path: Path) -> None:
    url, log, process = serve(tmp_path, {"PIXELMILL_DRAIN_SECONDS": "60"})
    try:
        wait_healthy(url, process, log)
        assert statuses(url) == {"/health": 200, "/health/live": 200, "/health/ready": 200}

        os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30  # a guard against hanging, not a speed check
        while (ready := httpx.get(url + "/health/ready", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert ready.headers["connection"] == "close"
        live = httpx.get(url + "/health/live", timeout=10)
        assert live.status_code == 200 and live.json()["status"] == "ok"
        assert statuses(url) == {"/health": 503, "/health/live": 200, "/health/ready": 503}
        head = httpx.head(url + "/health/ready", timeout=10)
        assert (head.status_code, head.content) == (503, b"")
        # still serving while it drains: the load balancer takes it out, nothing fails
        transform = httpx.post(
            url + "/v1/transform",
            files={"file": ("a.png", encode(photo(32, 32)))},
            data={"ops": "grayscale"},
            timeout=60,
        )
        assert transform.status_code == 200

        os.kill(process.pid, signal.SIGTERM)  # a second: stop now
        assert process.wait(timeout=30) is not None
    finally:
        stop(process)


WORKERS = ("serve", "--workers", "2")


def processes_answering(url: str, path: str, count: int, closing: bool) -> dict[str, int]:
    """GET PATH on fresh connections until COUNT distinct API processes have answered it
    (x-pixelmill-process), each with `Connection: close` when CLOSING; their statuses."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 60  # a guard against hanging, not a speed check
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {sorted(seen)} answered {path}"
        answer = httpx.get(url + path, timeout=10)  # a new connection each time
        if (answer.headers.get("connection") == "close") == closing:
            seen[answer.headers["x-pixelmill-process"]] = answer.status_code
        time.sleep(0.05)
    return seen


@pytest.mark.redis
def test_serve_with_workers_drains_every_api_process_on_sigterm(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    env = {"PIXELMILL_REDIS_URL": own_redis.url, "PIXELMILL_RUN_WORKERS": "false"}
    url, log, process = serve(tmp_path, {**env, "PIXELMILL_DRAIN_SECONDS": "60"}, WORKERS)
    try:
        wait_healthy(url, process, log, statuses=(503,))  # no service consumes: 503, ready
        assert set(processes_answering(url, "/health/live", 2, closing=False).values()) == {200}
        assert httpx.get(url + "/health/ready", timeout=10).status_code == 200

        os.kill(process.pid, signal.SIGTERM)  # to the supervisor only, as docker stop does
        # both API processes drain: each asks its clients to close, and ready is 503
        assert set(processes_answering(url, "/health/live", 2, closing=True).values()) == {200}
        for _ in range(6):
            ready = httpx.get(url + "/health/ready", timeout=10)
            assert ready.status_code == 503 and ready.json()["status"] == "draining"
        transform = httpx.post(
            url + "/v1/transform",
            files={"file": ("a.png", encode(photo(32, 32)))},
            data={"ops": "grayscale"},
            timeout=60,
        )
        assert transform.status_code == 200, transform.text  # still serving
        assert process.poll() is None

        below = descendants(process.pid)  # the API processes and their pools
        assert len(below) >= 2
        os.kill(process.pid, signal.SIGTERM)  # a second: stop now
        assert process.wait(timeout=30) is not None
        deadline = time.monotonic() + 30  # a guard against hanging, not a speed check
        while left := [pid for pid in below if Path(f"/proc/{pid}").exists()]:
            assert time.monotonic() < deadline, f"left running: {left}"
            time.sleep(0.1)
    finally:
        stop(process)


@pytest.mark.redis
def test_serve_with_workers_stops_by_itself_after_the_drain(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    env = {"PIXELMILL_REDIS_URL": own_redis.url, "PIXELMILL_RUN_WORKERS": "false"}
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")  # where the supervisor makes its folder
    url, log, process = serve(tmp_path, {**env, "PIXELMILL_DRAIN_SECONDS": "2"}, WORKERS)
    try:
        wait_healthy(url, process, log, statuses=(503,))
        # the API processes' metrics and the drain's flag: in one folder while it serves
        [folder] = (tmp_path / "tmp").glob("pixelmill-serve-*")
        assert [path.name for path in folder.iterdir()] == ["metrics"]
        assert any((folder / "metrics").iterdir())  # the API processes write there
        os.kill(process.pid, signal.SIGTERM)
        # the supervisor looks at its signals twice a second, the API processes at the flag
        # ten times: ready turns 503 well inside the 2 s
        while (ready := httpx.get(url + "/health/ready", timeout=10)).status_code == 200:
            time.sleep(0.05)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert process.wait(timeout=60) == 0, log.read_text(errors="replace")[-3000:]
        assert "drain for 2.0 s" in log.read_text(errors="replace")
        assert not folder.exists()  # removed as it stopped, metrics, flag and all
    finally:
        stop(process)


def descendants(pid: int) -> dict[int, int]:
    """Every process below PID, with its depth (1: a child), read from /proc."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = re.search(r"^PPid:\s+(\d+)$", status.read_text(), re.M)
        except OSError:  # gone meanwhile
            continue
        if ppid:
            children.setdefault(int(ppid[1]), []).append(int(status.parent.name))
    depths: dict[int, int] = {}
    below = [(pid, 0)]
    while below:
        parent, depth = below.pop()
        for child in children.get(parent, []):
            depths[child] = depth + 1
            below.append((child, depth + 1))
    return depths


def test_live_outlasts_a_killed_pool_process_and_ready_sees_a_lost_results_folder(
    tmp_path: Path,
) -> None:
    # worker processes, so that there is one to kill
    env = {"PIXELMILL_API_KEYS": "k-1", "PIXELMILL_EXECUTION": "processes"}
    url, log, process = serve(tmp_path, env)
    try:
        wait_healthy(url, process, log)
        # a kubelet sends no key: both answer without one, where the API wants it
        assert statuses(url) == {"/health": 200, "/health/live": 200, "/health/ready": 200}
        assert httpx.get(url + "/api/images", timeout=10).status_code == 401

        # serve -> forkserver -> pool process: kill -9 the pool's one process
        (worker,) = [pid for pid, depth in descendants(process.pid).items() if depth == 2]
        os.kill(worker, signal.SIGKILL)
        live = httpx.get(url + "/health/live", timeout=10)
        assert live.status_code == 200, live.text
        assert live.json()["components"]["workers"]["restarts"] == 1  # replaced, not restarted
        assert worker not in descendants(process.pid)

        # the results folder gone (a volume lost): not ready, and not restarted for it
        shutil.rmtree(tmp_path / "results")
        ready = httpx.get(url + "/health/ready", timeout=10)
        assert ready.status_code == 503
        assert (ready.json()["status"], ready.json()["failing"]) == ("unready", ["results_dir"])
        assert httpx.get(url + "/health/live", timeout=10).status_code == 200
    finally:
        stop(process)
