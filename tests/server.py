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
