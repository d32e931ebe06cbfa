"""What RedisQueue leaves in Redis: key names, stream contents, the bound across processes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from pixelmill.errors import Unavailable
from pixelmill.jobs import RedisQueue, redis_queue
from pixelmill.redis_client import connect
from pixelmill.services import dead_letters
from tests.redis_server import SHARED_REDIS_URL

pytestmark = pytest.mark.redis

STREAM = "captions:in"
GROUP = "captioner"


@pytest.fixture
def queue(redis_prefix: str) -> Iterator[RedisQueue]:
    client = connect(SHARED_REDIS_URL)
    yield RedisQueue(client, redis_prefix, max_length=100, claim_idle_ms=500)
    client.close()


def test_streams_live_under_the_prefix(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    fields = {"image": b"\xff\xd8\xff\x00jpeg", "description": "Привет".encode()}
    message_id = queue.put(STREAM, fields)

    key = f"{redis_prefix}:captions:in"
    assert redis_client.type(key) == b"stream"
    assert redis_client.xrange(key) == [
        (
            message_id.encode(),
            {b"image": b"\xff\xd8\xff\x00jpeg", b"description": "Привет".encode()},
        )
    ]

    assert len(queue.take(STREAM, GROUP, "c1")) == 1
    [group] = redis_client.xinfo_groups(key)
    assert (group["name"], group["pending"]) == (GROUP.encode(), 1)
    assert [c["name"] for c in redis_client.xinfo_consumers(key, GROUP)] == [b"c1"]


def test_acknowledged_messages_leave_the_stream(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    key = f"{redis_prefix}:captions:in"
    ids = [queue.put(STREAM, {"n": str(n).encode()}) for n in range(3)]
    taken = queue.take(STREAM, GROUP, "c1", count=2)
    queue.ack(STREAM, GROUP, taken[0].id)

    # the stream holds exactly what is not done: pending ones and waiting ones
    assert [entry_id.decode() for entry_id, _ in redis_client.xrange(key)] == ids[1:]
    assert redis_client.xpending(key, GROUP)["pending"] == 1


def test_the_dead_letter_stream_holds_the_reason_and_the_original(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    queue.put(STREAM, {"image": b"\x00\x01", "description": "сломано".encode()})
    [message] = queue.take(STREAM, GROUP, "c1")
    queue.dead_letter(STREAM, GROUP, message, "OSError('cannot identify image file')")
    queue.dead_letter(STREAM, GROUP, message, "again")  # no longer pending: not twice

    [(_, letter)] = redis_client.xrange(f"{redis_prefix}:captions:in:dead")
    first, at = letter.pop(b"dead_first_failure"), letter.pop(b"dead_at")
    assert first == at  # never retried: it first failed when it died
    assert letter == {
        b"image": b"\x00\x01",
        b"description": "сломано".encode(),
        b"dead_reason": b"OSError('cannot identify image file')",
        b"dead_id": message.id.encode(),
        b"dead_group": b"captioner",
        b"dead_deliveries": b"1",
    }
    assert redis_client.xlen(f"{redis_prefix}:captions:in") == 0


class ClockBehind:
    """The time module as a host whose clock is a minute behind reads it."""

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return time.time() - 60

    @staticmethod
    def time_ns() -> int:
        return time.time_ns() - 60 * 10**9


def test_letters_are_dated_by_redis_in_the_order_they_are_filed(
    queue: RedisQueue,
    redis_prefix: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two workers give up at once, one host's clock a minute behind: each letter is dated
    # as Redis files it, so the list (oldest first) reads in order, whoever's clock it was
    for n in range(2):
        queue.put(STREAM, {"n": str(n).encode()})
    first, second = queue.take(STREAM, GROUP, "c1", count=2)
    monkeypatch.setattr(redis_queue, "time", ClockBehind())
    queue.retry_later(STREAM, GROUP, second)  # its first failure, on the clock behind
    queue.dead_letter(STREAM, GROUP, second, "behind")
    monkeypatch.undo()
    queue.dead_letter(STREAM, GROUP, first, "on time")

    letters = redis_client.xrange(f"{redis_prefix}:captions:in:dead")
    assert [letter[b"dead_reason"] for _, letter in letters] == [b"behind", b"on time"]
    dated = [int(letter[b"dead_at"]) for _, letter in letters]
    filed = [int(entry_id.split(b"-")[0]) for entry_id, _ in letters]
    assert dated == filed  # Redis's own ms, the ones its ids are made of
    first_failed = int(letters[0][1][b"dead_first_failure"])
    assert filed[0] - 5000 < first_failed <= dated[0]  # Redis's clock too, not a minute back
    # and what people are shown (`/api/admin/dead-letters`, the CLI) reads in that order
    shown = [letter["last_failure"] for letter in dead_letters.list_letters(queue, STREAM)]
    assert len(shown) == 2 and shown == sorted(shown)


def test_the_bound_holds_across_processes(redis_prefix: str, redis_client: redis.Redis) -> None:
    """Two API processes (two RedisQueue objects), many threads: never more than the bound."""
    clients = [connect(SHARED_REDIS_URL) for _ in range(2)]
    queues = [
        RedisQueue(client, redis_prefix, max_length=10, claim_idle_ms=60_000) for client in clients
    ]
    accepted: list[str] = []
    refused: list[Unavailable] = []
    lock = threading.Lock()

    def put_five(queue: RedisQueue) -> None:
        for n in range(5):
            try:
                message_id = queue.put(STREAM, {"n": str(n).encode()})
            except Unavailable as error:
                with lock:
                    refused.append(error)
            else:
                with lock:
                    accepted.append(message_id)

    threads = [threading.Thread(target=put_five, args=(queues[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()

    assert (len(accepted), len(refused)) == (10, 30)
    stream = [i.decode() for i, _ in redis_client.xrange(f"{redis_prefix}:captions:in")]
    assert sorted(stream) == sorted(accepted)


def test_a_lost_group_is_created_again(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    queue.put(STREAM, {"n": b"1"})
    [first] = queue.take(STREAM, GROUP, "c1")
    queue.ack(STREAM, GROUP, first.id)
    redis_client.delete(f"{redis_prefix}:captions:in")  # as after a restart without data

    queue.put(STREAM, {"n": b"2"})
    [second] = queue.take(STREAM, GROUP, "c1")

    assert second.fields == {"n": b"2"}
    assert queue.pending(STREAM, GROUP) == 1


def test_an_idle_message_behind_busy_ones_is_found(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    """XAUTOCLAIM looks at ten entries per call; take looks further when they are all busy."""
    key = f"{redis_prefix}:captions:in"
    for n in range(15):
        queue.put(STREAM, {"n": str(n).encode()})
    taken = queue.take(STREAM, GROUP, "busy", count=15)
    time.sleep(0.6)  # all idle now
    # the first 14 are being worked on: their consumer touches them
    busy_ids = [m.id for m in taken[:14]]
    redis_client.xclaim(key, GROUP, "busy", 0, busy_ids, justid=True)

    [again] = queue.take(STREAM, GROUP, "c2", block_ms=50)

    assert again.deliveries == 2


def consumers(redis_client: redis.Redis, key: str) -> dict[str, int]:
    """The group's consumers and how many messages each holds."""
    return {c["name"].decode(): c["pending"] for c in redis_client.xinfo_consumers(key, GROUP)}


def test_a_consumer_that_leaves_is_forgotten_unless_it_holds_messages(
    queue: RedisQueue, redis_prefix: str, redis_client: redis.Redis
) -> None:
    key = f"{redis_prefix}:captions:in"
    queue.put(STREAM, {"n": b"1"})
    queue.put(STREAM, {"n": b"2"})
    [done] = queue.take(STREAM, GROUP, "done")
    queue.ack(STREAM, GROUP, done.id)
    [held] = queue.take(STREAM, GROUP, "holding")
    assert consumers(redis_client, key) == {"done": 0, "holding": 1}

    queue.leave(STREAM, GROUP, "done")
    queue.leave(STREAM, GROUP, "holding")  # holds a message: kept, so that it is not lost

    assert consumers(redis_client, key) == {"holding": 1}
    time.sleep(0.6)  # idle past claim_idle_ms
    [taken_over] = queue.take(STREAM, GROUP, "other")
    assert (taken_over.id, taken_over.fields, taken_over.deliveries) == (held.id, held.fields, 2)


def test_consumers_idle_long_and_holding_nothing_are_forgotten_by_the_others(
    redis_prefix: str, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"{redis_prefix}:captions:in"
    client = connect(SHARED_REDIS_URL)
    queue = RedisQueue(
        client,
        redis_prefix,
        max_length=100,
        claim_idle_ms=60_000,
        forget_idle_ms=500,
        forget_every_seconds=0,  # look at every take
    )
    try:
        for n in range(3):
            queue.put(STREAM, {"n": str(n).encode()})
        [done] = queue.take(STREAM, GROUP, "killed")  # finished its message, then was killed
        queue.ack(STREAM, GROUP, done.id)
        queue.take(STREAM, GROUP, "busy")  # holds a message through a long job
        [done] = queue.take(STREAM, GROUP, "live")
        queue.ack(STREAM, GROUP, done.id)
        assert consumers(redis_client, key) == {"killed": 0, "busy": 1, "live": 0}

        time.sleep(0.6)  # everyone idle past forget_idle_ms
        with caplog.at_level(logging.INFO, logger="pixelmill.jobs"):
            assert queue.take(STREAM, GROUP, "live", block_ms=0) == []

        assert consumers(redis_client, key) == {"busy": 1, "live": 0}
        assert "forgot 1 consumer(s)" in caplog.text and "killed" in caplog.text
    finally:
        client.close()


def test_forgetting_consumers_of_a_lost_stream_is_no_outage(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    client = connect(SHARED_REDIS_URL)
    queue = RedisQueue(
        client, redis_prefix, max_length=100, claim_idle_ms=500, forget_every_seconds=0
    )
    try:
        queue.put(STREAM, {"n": b"1"})
        [first] = queue.take(STREAM, GROUP, "c1")
        queue.ack(STREAM, GROUP, first.id)
        redis_client.delete(f"{redis_prefix}:captions:in")  # as after a restart without data

        queue.leave(STREAM, GROUP, "c1")
        queue.put(STREAM, {"n": b"2"})
        [second] = queue.take(STREAM, GROUP, "c1")
        assert second.fields == {"n": b"2"}
    finally:
        client.close()
