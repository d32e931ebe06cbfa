"""Fixtures: job queues of both kinds (one test runs against each), Redis prefixes, servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pixelmill.jobs import JobQueue, MemoryQueue, RedisQueue
from tests.jobs.redis_server import (
    SHARED_REDIS_URL,
    RedisServer,
    delete_keys,
    plain_client,
    require_redis,
    unique_prefix,
)
from tests.server import free_port

OpenQueue = Callable[..., JobQueue]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A plain client of the shared Redis, to look at streams and keys."""
    require_redis()
    client = plain_client()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted after."""
    prefix = unique_prefix()
    yield prefix
    delete_keys(redis_client, prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def open_queue(request: pytest.FixtureRequest) -> Iterator[OpenQueue]:
    """Factory: `open_queue(max_length=..., claim_idle_ms=...)`, in memory or on Redis."""
    opened: list[JobQueue] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""

    def open_(*, max_length: int = 100, claim_idle_ms: int = 60_000) -> JobQueue:
        queue: JobQueue
        if request.param == "redis":
            queue = RedisQueue(
                SHARED_REDIS_URL, prefix, max_length=max_length, claim_idle_ms=claim_idle_ms
            )
        else:
            queue = MemoryQueue(max_length, claim_idle_ms=claim_idle_ms)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        queue.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private, running redis-server that the test may stop and start again."""
    server = RedisServer(tmp_path, free_port())
    server.start()
    yield server
    server.stop()
