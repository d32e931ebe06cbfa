"""A real `pixelmill serve` in a subprocess, for tests that need real concurrency or the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    tmp: Path, args: list[str] | None = None, env: dict[str, str] | None = None, port: int = 0
) -> Iterator[str]:
    """Start `pixelmill serve ARGS` with ENV, wait for /health on PORT, yield its URL, stop it.

    With no port given, a free one is chosen and passed as PIXELMILL_PORT.
    """
    environment = {
        **os.environ,
        "PIXELMILL_DATA_DIR": str(tmp / "data"),
        "PIXELMILL_RESULTS_DIR": str(tmp / "results"),
        **(env or {}),
    }
    if not port:
        port = free_port()
        environment["PIXELMILL_PORT"] = str(port)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pixelmill", "serve", *(args or [])],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {(tmp / 'server.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def start_pixelmill(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`pixelmill ARGS` in the background with ENV added, its output in LOG."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pixelmill", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 60,
    statuses: tuple[int, ...] = (200,),
) -> None:
    """Poll /health until it answers one of `statuses` (default 200: every component up),
    or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code in statuses:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server not healthy: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
