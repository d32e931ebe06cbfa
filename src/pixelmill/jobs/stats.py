"""Job statistics: how many messages each service handled, how each ended, how long each took.

Workers record every message they handle; `/metrics` reads the totals when scraped, on any
API process. On Redis the totals of all workers on all machines are one hash per service,
`<prefix>:jobstats:<service>`, with a field per outcome (`n:done`, `n:retried`, `n:failed`),
per histogram bucket (`le:<seconds>`, cumulative, as Prometheus wants them) and `sum`.
A worker adds to its own totals in memory and writes them to Redis at most once a second
(`FLUSH_SECONDS`, from the worker loop and when it stops), in one round trip: a message
costs no round trip of its own, and /metrics lags by a second or two. Recording never fails
the job: a statistic that cannot be written is lost, the work is not.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

import redis

log = logging.getLogger(__name__)

Outcome = Literal["done", "retried", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("done", "retried", "failed")
# seconds; a caption takes milliseconds, OCR of a page seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, math.inf)
FLUSH_SECONDS = 1.0


@dataclass
class ServiceStats:
    """One service's totals: messages by outcome, and the duration histogram."""

    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # cumulative
    sum: float = 0.0

    @property
    def count(self) -> int:
        return self.buckets[-1]

    def add(self, outcome: Outcome, seconds: float) -> None:
        self.outcomes[outcome] += 1
        self.sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


class JobStats(Protocol):
    """Where workers record the messages they handle."""

    def record(self, service: str, outcome: Outcome, seconds: float) -> None:
        """One message of SERVICE ended with OUTCOME after SECONDS."""
        ...

    def flush(self, force: bool = False) -> None:
        """Write what was recorded, if it is time to (or `force`); workers call it between
        messages."""
        ...

    def read(self, services: tuple[str, ...]) -> dict[str, ServiceStats]:
        """The totals of each service so far."""
        ...

    def close(self) -> None:
        """Write what is left (the worker has stopped)."""
        ...


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


class RedisJobStats:
    """Totals in one Redis hash per service, shared by every process; on the process's one
    client."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._redis = client
        self._unwritten: dict[str, ServiceStats] = {}
        self._last_flush = 0.0
        self._lock = threading.Lock()

    def record(self, service: str, outcome: Outcome, seconds: float) -> None:
        with self._lock:
            self._unwritten.setdefault(service, ServiceStats()).add(outcome, seconds)
        self.flush()

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._unwritten or (not force and now < self._last_flush + FLUSH_SECONDS):
                return
            unwritten, self._unwritten, self._last_flush = self._unwritten, {}, now
        pipe = self._redis.pipeline(transaction=False)
        for service, stats in unwritten.items():
            key = self._key(service)
            for outcome, n in stats.outcomes.items():
                if n:
                    pipe.hincrby(key, f"n:{outcome}", n)
            pipe.hincrbyfloat(key, "sum", stats.sum)
            for bound, n in zip(BUCKETS, stats.buckets, strict=True):
                if n:
                    pipe.hincrby(key, f"le:{bucket_label(bound)}", n)
        try:
            pipe.execute()
        except redis.RedisError as error:
            log.debug("job statistics not recorded: %s", error)

    def read(self, services: tuple[str, ...]) -> dict[str, ServiceStats]:
        pipe = self._redis.pipeline(transaction=False)
        for service in services:
            pipe.hgetall(self._key(service))
        out: dict[str, ServiceStats] = {}
        for service, raw in zip(services, pipe.execute(), strict=True):
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            stats = ServiceStats(sum=float(fields.get("sum", 0.0)))
            for outcome in OUTCOMES:
                stats.outcomes[outcome] = int(fields.get(f"n:{outcome}", 0))
            stats.buckets = [int(fields.get(f"le:{bucket_label(b)}", 0)) for b in BUCKETS]
            out[service] = stats
        return out

    def close(self) -> None:
        self.flush(force=True)

    def _key(self, service: str) -> str:
        return f"{self._prefix}:jobstats:{service}"


class MemoryJobStats:
    """Totals held in this process (the embedded mode); thread-safe."""

    def __init__(self) -> None:
        self._stats: dict[str, ServiceStats] = {}
        self._lock = threading.Lock()

    def record(self, service: str, outcome: Outcome, seconds: float) -> None:
        with self._lock:
            self._stats.setdefault(service, ServiceStats()).add(outcome, seconds)

    def flush(self, force: bool = False) -> None:
        pass  # nothing to write: the totals are these

    def read(self, services: tuple[str, ...]) -> dict[str, ServiceStats]:
        with self._lock:
            return {s: copy.deepcopy(self._stats.get(s, ServiceStats())) for s in services}

    def close(self) -> None:
        pass
