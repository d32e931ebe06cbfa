"""Redis for tests: is the shared one reachable (skip, or fail on CI), and private servers.

The shared Redis is `PIXELMILL_TEST_REDIS_URL` (default redis://127.0.0.1:6379/0); tests use
a unique key prefix there and delete their keys afterwards, and never flush it. Tests that
stop Redis start their own `redis-server` on a free port instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SHARED_REDIS_URL = os.environ.get("PIXELMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_SHARED = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


def missing(reason: str) -> None:
    """Fail when CI=true (CI must run every test), else skip with REASON."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_redis(url: str = SHARED_REDIS_URL) -> None:
    """Skip the test (fail on CI) unless Redis answers at URL."""
    client = plain_client(url, timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as error:
        missing(f"Redis is not reachable at {url} ({error}); start it with: {START_SHARED}")
    finally:
        client.close()


def plain_client(url: str = SHARED_REDIS_URL, timeout: float = 5.0) -> redis.Redis:
    """A client without retries, to look at what the code under test left in Redis."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def unique_prefix() -> str:
    return f"pixelmill-test-{uuid.uuid4().hex[:12]}"


def delete_keys(client: redis.Redis, prefix: str) -> None:
    """Delete every key under PREFIX (SCAN, never FLUSH: the server is shared)."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


class RedisServer:
    """A private `redis-server` on PORT, without persistence, that a test may stop and start."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed (apt-get install redis-server)")
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = plain_client(self.url, timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log_text = (self.directory / "redis.log").read_text()
                        raise RuntimeError(f"redis-server did not start: {log_text}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
