"""Heartbeats: each worker says it is alive every `heartbeat_seconds`; silence for three
intervals means it is gone.

On Redis a beat is `SET <prefix>:heartbeat:<service>:<consumer> <unix time> PX 3×interval`,
and the living consumers of a service are the keys SCAN still finds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import redis

from pixelmill.errors import Unavailable
from pixelmill.redis_client import public_reason

MISSED_BEATS = 3  # beats a consumer may miss before it counts as gone


class Heartbeats(Protocol):
    """Where workers report that they are alive."""

    def beat(self, service: str, consumer: str) -> None:
        """CONSUMER of SERVICE is alive now."""
        ...

    def alive(self, service: str) -> list[str]:
        """The consumers of SERVICE that beat within the last three intervals, sorted."""
        ...

    def beats(self, service: str) -> dict[str, float]:
        """The living consumers of SERVICE and when each beat last (Unix time)."""
        ...


class RedisHeartbeats:
    """Heartbeats as expiring Redis keys, on the process's one client."""

    def __init__(self, client: redis.Redis, prefix: str, *, heartbeat_seconds: float) -> None:
        self._prefix = prefix
        self._ttl_ms = max(1, round(MISSED_BEATS * heartbeat_seconds * 1000))
        self._redis = client

    def beat(self, service: str, consumer: str) -> None:
        try:
            self._redis.set(self._key(service, consumer), f"{time.time():.3f}", px=self._ttl_ms)
        except redis.RedisError as error:
            raise Unavailable(f"heartbeats unavailable: {public_reason(error)}") from error

    def alive(self, service: str) -> list[str]:
        start = self._key(service, "")
        pattern = _escape_glob(start) + "*"
        try:
            keys = list(self._redis.scan_iter(match=pattern, count=1000))
        except redis.RedisError as error:
            raise Unavailable(f"heartbeats unavailable: {public_reason(error)}") from error
        return sorted({key.decode()[len(start) :] for key in keys})

    def beats(self, service: str) -> dict[str, float]:
        consumers = self.alive(service)
        keys = [self._key(service, consumer) for consumer in consumers]
        try:
            values: Any = self._redis.mget(keys) if keys else []
        except redis.RedisError as error:
            raise Unavailable(f"heartbeats unavailable: {public_reason(error)}") from error
        return {c: float(v) for c, v in zip(consumers, values, strict=True) if v is not None}

    def _key(self, service: str, consumer: str) -> str:
        return f"{self._prefix}:heartbeat:{service}:{consumer}"


class MemoryHeartbeats:
    """Heartbeats held in this process; thread-safe."""

    def __init__(self, *, heartbeat_seconds: float) -> None:
        self._ttl = MISSED_BEATS * heartbeat_seconds
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def beat(self, service: str, consumer: str) -> None:
        with self._lock:
            self._last[(service, consumer)] = time.monotonic()

    def alive(self, service: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            for gone in [k for k, at in self._last.items() if now - at >= self._ttl]:
                del self._last[gone]
            return sorted(consumer for named, consumer in self._last if named == service)

    def beats(self, service: str) -> dict[str, float]:
        alive = self.alive(service)
        offset = time.time() - time.monotonic()  # monotonic beats, told as Unix times
        with self._lock:
            return {
                c: self._last[(service, c)] + offset for c in alive if (service, c) in self._last
            }


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
