"""Heartbeats: who is alive, in memory and on Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from pixelmill.jobs import Heartbeats, MemoryHeartbeats, MemoryQueue, RedisHeartbeats, run_worker
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


def test_a_worker_busy_with_a_long_batch_stays_alive(open_heartbeats: OpenHeartbeats) -> None:
    """A batch that takes many beat intervals (16 face detections on a busy machine): the
    consumer keeps beating while it works, so /health does not call the service gone."""
    heartbeats = open_heartbeats(0.1)  # gone after 0.3 s of silence
    queue = MemoryQueue(100)
    for index in range(3):
        queue.put("jobs", {"n": str(index).encode()})
    inside, release, seen = threading.Event(), threading.Event(), []

    class Slow:
        def __call__(self, message: object) -> None: ...

        def many(self, messages: list[object]) -> None:
            inside.set()
            release.wait(10)

    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(queue, "jobs", "slow", "host-a-1", Slow()),
        kwargs={
            "stop": stop,
            "max_deliveries": 5,
            "heartbeats": heartbeats,
            "heartbeat_seconds": 0.1,
            "batch": 16,
            "block_ms": 50,
        },
    )
    worker.start()
    try:
        assert inside.wait(10), "the batch never started"
        for _ in range(10):  # 1 s inside one batch: more than three intervals
            time.sleep(0.1)
            seen.append(heartbeats.alive("slow"))
        assert seen == [["host-a-1"]] * 10
    finally:
        release.set()
        stop.set()
        worker.join(10)
    time.sleep(0.5)  # stopped: its beats stop too
    assert heartbeats.alive("slow") == []
