"""Fixtures: job queues of both kinds (one test runs against each), Redis prefixes, servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pixelmill.jobs import JobQueue, MemoryQueue, RedisQueue
from pixelmill.redis_client import connect
from tests.redis_server import SHARED_REDIS_URL

OpenQueue = Callable[..., JobQueue]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def open_queue(request: pytest.FixtureRequest) -> Iterator[OpenQueue]:
    """Factory: `open_queue(max_length=..., claim_idle_ms=...)`, in memory or on Redis."""
    opened: list[JobQueue] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""
    client = connect(SHARED_REDIS_URL)  # connects on first use: the memory kind never does

    def open_(*, max_length: int = 100, claim_idle_ms: int = 60_000) -> JobQueue:
        queue: JobQueue
        if request.param == "redis":
            queue = RedisQueue(client, prefix, max_length=max_length, claim_idle_ms=claim_idle_ms)
        else:
            queue = MemoryQueue(max_length, claim_idle_ms=claim_idle_ms)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        queue.close()
    client.close()
