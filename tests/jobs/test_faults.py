"""Redis going away and coming back, on a private redis-server."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from pixelmill.errors import Unavailable
from pixelmill.jobs import Message, QueueDown, RedisQueue, run_worker
from pixelmill.redis_client import connect
from tests.jobs.waiting import wait_until
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

STREAM = "captions:in"
GROUP = "captioner"


@pytest.fixture
def queue(own_redis: RedisServer) -> Iterator[RedisQueue]:
    client = connect(own_redis.url, socket_timeout=1.0, socket_connect_timeout=0.5)
    yield RedisQueue(client, "pixelmill", max_length=100, claim_idle_ms=200)
    client.close()


def test_the_same_queue_works_again_after_redis_restarts(
    queue: RedisQueue, own_redis: RedisServer
) -> None:
    queue.put(STREAM, {"n": b"before"})
    [before] = queue.take(STREAM, GROUP, "c1")
    queue.ack(STREAM, GROUP, before.id)

    own_redis.stop()

    with pytest.raises(Unavailable) as refused:
        queue.put(STREAM, {"n": b"during"})
    assert isinstance(refused.value, QueueDown)
    assert refused.value.detail == "queue unavailable: cannot reach Redis"
    assert not queue.ping()
    with pytest.raises(QueueDown):
        queue.take(STREAM, GROUP, "c1", block_ms=50)
    with pytest.raises(QueueDown):
        queue.depth(STREAM)

    own_redis.start()  # same port, empty: no persistence

    assert queue.ping()
    queue.put(STREAM, {"n": b"after"})
    [after] = queue.take(STREAM, GROUP, "c1")
    assert (after.fields, after.deliveries) == ({"n": b"after"}, 1)
    queue.ack(STREAM, GROUP, after.id)
    assert queue.depth(STREAM) == 0


def test_a_redis_that_does_not_answer_is_reported_as_such(
    queue: RedisQueue, own_redis: RedisServer
) -> None:
    queue.put(STREAM, {"n": b"1"})
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(QueueDown, match="Redis did not answer in time"):
            queue.put(STREAM, {"n": b"2"})
        assert not queue.ping()
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert queue.ping()
    [message] = queue.take(STREAM, GROUP, "c1")
    assert message.fields == {"n": b"1"}


def test_the_worker_rides_out_an_outage(
    queue: RedisQueue, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pixelmill.worker")
    handled: list[Message] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(queue, STREAM, GROUP, "w1", handled.append),
        kwargs={"stop": stop, "max_deliveries": 3, "block_ms": 50, "max_backoff_seconds": 0.2},
        daemon=True,
    )
    thread.start()
    try:
        queue.put(STREAM, {"n": b"1"})
        wait_until(lambda: len(handled) == 1, "the first message")

        own_redis.stop()
        wait_until(
            lambda: any("retrying with back-off" in r.getMessage() for r in caplog.records),
            "the worker to notice the outage",
        )
        assert thread.is_alive()

        own_redis.start()
        wait_until(queue.ping, "Redis to answer")
        queue.put(STREAM, {"n": b"2"})
        wait_until(lambda: len(handled) == 2, "the message after the outage")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [m.fields for m in handled] == [{"n": b"1"}, {"n": b"2"}]
    assert queue.pending(STREAM, GROUP) == 0
    outages = [r for r in caplog.records if "retrying with back-off" in r.getMessage()]
    assert len(outages) == 1
