"""What a process opens: every part in memory, or every part on one Redis client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pixelmill.config import Settings
from pixelmill.events import MemoryBroadcaster
from pixelmill.jobs import MemoryHeartbeats, MemoryJobStats, MemoryQueue
from pixelmill.services.faces import CHANNEL
from pixelmill.services.registry import SERVICES
from pixelmill.services.runtime import Runtime
from tests.jobs.waiting import wait_until
from tests.redis_server import RedisServer, plain_client


def test_without_redis_every_part_is_in_memory(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime.open(make_settings())
    try:
        assert runtime.embedded and runtime.redis is None
        assert isinstance(runtime.queue, MemoryQueue)
        assert isinstance(runtime.heartbeats, MemoryHeartbeats)
        assert isinstance(runtime.job_stats, MemoryJobStats)
        assert isinstance(runtime.broadcaster, MemoryBroadcaster)
    finally:
        runtime.close()


@pytest.mark.redis
def test_on_redis_a_process_holds_one_pool_and_the_subscription(
    make_settings: Callable[..., Settings], own_redis: RedisServer
) -> None:
    """Counted by Redis itself (CLIENT LIST) on a private server: before, a runtime held a
    pool each for the queue, heartbeats, statistics and publishing (4 connections once each
    was used, 7 with the services and the subscription running)."""
    look = plain_client(own_redis.url)

    def connections() -> int:
        return len(look.client_list()) - 1  # not this one

    runtime = Runtime.open(make_settings(redis_url=own_redis.url, redis_prefix="pixelmill"))
    try:
        runtime.queue.put("captions:in", {"n": b"1"})
        runtime.heartbeats.beat("captioner", "here")
        runtime.job_stats.record("captioner", "done", 0.01)
        runtime.job_stats.flush(force=True)
        runtime.broadcaster.publish(CHANNEL, "{}")
        assert connections() == 1  # each part used once, one after the other: one connection

        runtime.start_workers()
        wait_until(lambda: all(runtime.alive(s.name) for s in SERVICES), "every service alive")

        async def subscribed() -> int:
            listening = asyncio.ensure_future(anext(runtime.broadcaster.subscribe(CHANNEL)))
            try:
                channel = f"pixelmill:events:{CHANNEL}"
                while look.pubsub_numsub(channel) != [(channel.encode(), 1)]:
                    await asyncio.sleep(0.02)
                return connections()
            finally:
                listening.cancel()

        # a connection at most per thread that uses Redis at once (three services, each in a
        # blocking read, their heartbeats' one thread, and this test), and the subscription's
        threads = len(SERVICES) + 2
        assert connections() <= threads
        assert asyncio.run(subscribed()) <= threads + 1
    finally:
        runtime.close()
        look.close()
