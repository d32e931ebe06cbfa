"""Heartbeats: who is alive, in memory and on Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from pixelmill.jobs import Heartbeats, MemoryHeartbeats, RedisHeartbeats
from pixelmill.redis_client import connect
from tests.jobs.waiting import wait_until
from tests.redis_server import SHARED_REDIS_URL

OpenHeartbeats = Callable[[float], Heartbeats]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def open_heartbeats(request: pytest.FixtureRequest) -> Iterator[OpenHeartbeats]:
    """Factory: heartbeats with the given interval, in memory or on Redis."""
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""
    client = connect(SHARED_REDIS_URL)  # connects on first use: the memory kind never does

    def open_(seconds: float) -> Heartbeats:
        if request.param == "redis":
            return RedisHeartbeats(client, prefix, heartbeat_seconds=seconds)
        return MemoryHeartbeats(heartbeat_seconds=seconds)

    yield open_
    client.close()


def test_consumers_that_beat_are_alive(open_heartbeats: OpenHeartbeats) -> None:
    heartbeats = open_heartbeats(5.0)
    heartbeats.beat("captioner", "host-b-12")
    heartbeats.beat("captioner", "host-a-7")
    heartbeats.beat("storer", "host-a-8")

    assert heartbeats.alive("captioner") == ["host-a-7", "host-b-12"]
    assert heartbeats.alive("storer") == ["host-a-8"]
    assert heartbeats.alive("faces") == []


def test_silence_for_three_intervals_means_gone(open_heartbeats: OpenHeartbeats) -> None:
    heartbeats = open_heartbeats(0.05)
    heartbeats.beat("captioner", "c1")
    wait_until(lambda: heartbeats.alive("captioner") == [], "the heartbeat to expire")


@pytest.mark.redis
def test_a_beat_is_an_expiring_key(redis_prefix: str, redis_client: redis.Redis) -> None:
    client = connect(SHARED_REDIS_URL)
    RedisHeartbeats(client, redis_prefix, heartbeat_seconds=5.0).beat("captioner", "host-1")
    client.close()

    key = f"{redis_prefix}:heartbeat:captioner:host-1"
    assert 0 < redis_client.pttl(key) <= 15_000
    assert abs(float(redis_client.get(key) or 0) - time.time()) < 60
