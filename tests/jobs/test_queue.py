"""Queue behaviour, the same on Redis Streams and in memory."""

from __future__ import annotations

import logging
import time

import pytest

from pixelmill.errors import Unavailable
from pixelmill.jobs import JobQueue, QueueDown
from pixelmill.jobs.queue import (
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_FIRST_FAILURE,
    DEAD_GROUP,
    DEAD_ID,
    DEAD_REASON,
    Message,
)
from tests.images import encode, photo
from tests.jobs.conftest import OpenQueue
from tests.jobs.waiting import wait_until

STREAM = "captions:in"
GROUP = "captioner"


def numbered(n: int) -> dict[str, bytes]:
    return {"n": str(n).encode()}


def take_until_one(queue: JobQueue, consumer: str) -> Message:
    """The next message CONSUMER gets, waiting for a redelivery if need be."""

    def probe() -> Message | None:
        messages = queue.take(STREAM, GROUP, consumer, block_ms=50)
        assert len(messages) <= 1
        return messages[0] if messages else None

    return wait_until(probe, f"a message for {consumer}")


def test_round_trip_keeps_binary_fields(open_queue: OpenQueue) -> None:
    queue = open_queue()
    fields = {
        "image": encode(photo(64, 48)),
        "description": "Кот на крыше, ёж в тумане 😺".encode(),
        "bytes": bytes(range(256)),
    }
    message_id = queue.put(STREAM, fields)

    [message] = queue.take(STREAM, GROUP, "c1")
    assert message == Message(message_id, fields, 1)
    assert message.fields["description"].decode() == "Кот на крыше, ёж в тумане 😺"

    queue.ack(STREAM, GROUP, message.id)
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)
    assert queue.take(STREAM, GROUP, "c1", block_ms=50) == []


def test_take_on_an_empty_stream_returns_nothing(open_queue: OpenQueue) -> None:
    queue = open_queue()
    assert queue.take(STREAM, GROUP, "c1", count=5, block_ms=50) == []
    assert queue.take(STREAM, GROUP, "c1", block_ms=0) == []


def test_consumers_of_a_group_get_distinct_messages(open_queue: OpenQueue) -> None:
    queue = open_queue()
    for n in range(4):
        queue.put(STREAM, numbered(n))

    first = queue.take(STREAM, GROUP, "c1", count=2)
    second = queue.take(STREAM, GROUP, "c2", count=2)

    got = [m.fields["n"] for m in first + second]
    assert sorted(got) == [b"0", b"1", b"2", b"3"]
    assert len(first) == len(second) == 2
    assert all(m.deliveries == 1 for m in first + second)
    assert queue.pending(STREAM, GROUP) == 4


def test_a_live_consumers_message_is_not_handed_to_another(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=60_000)
    queue.put(STREAM, numbered(1))
    [taken] = queue.take(STREAM, GROUP, "c1")

    assert queue.take(STREAM, GROUP, "c2", block_ms=50) == []
    assert queue.pending(STREAM, GROUP) == 1
    assert queue.depth(STREAM) == 1
    queue.ack(STREAM, GROUP, taken.id)


def test_a_dead_consumers_message_is_taken_over(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put(STREAM, numbered(1))
    [taken] = queue.take(STREAM, GROUP, "dies")  # and never acknowledges

    again = take_until_one(queue, "c2")

    assert (again.id, again.fields, again.deliveries) == (taken.id, taken.fields, 2)
    queue.ack(STREAM, GROUP, again.id)
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)


def test_retry_later_redelivers_with_one_more_delivery(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put(STREAM, numbered(7))

    [first] = queue.take(STREAM, GROUP, "c1")
    queue.retry_later(STREAM, GROUP, first)
    second = take_until_one(queue, "c1")
    queue.retry_later(STREAM, GROUP, second)
    third = take_until_one(queue, "c2")

    assert [m.deliveries for m in (first, second, third)] == [1, 2, 3]
    assert {m.id for m in (first, second, third)} == {first.id}
    assert third.fields == numbered(7)
    queue.ack(STREAM, GROUP, third.id)
    assert queue.depth(STREAM) == 0


def test_a_retry_not_counted_redelivers_with_the_same_count(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put(STREAM, numbered(8))

    [first] = queue.take(STREAM, GROUP, "c1")
    queue.retry_later(STREAM, GROUP, first)  # the message's fault: counted
    second = take_until_one(queue, "c1")
    queue.retry_later(STREAM, GROUP, second, counted=False)  # an outage: not counted
    third = take_until_one(queue, "c2")
    queue.retry_later(STREAM, GROUP, third, counted=False)
    fourth = take_until_one(queue, "c1")

    assert [m.deliveries for m in (first, second, third, fourth)] == [1, 2, 2, 2]
    assert [m.consumer for m in (first, second, third, fourth)] == ["c1", "c1", "c2", "c1"]
    assert fourth.fields == numbered(8)


def test_dead_letter_moves_the_message_with_its_reason(
    open_queue: OpenQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = open_queue(claim_idle_ms=200)
    fields = {"image": b"\x89PNG\r\n\x1a\n\x00", "description": "битый файл".encode()}
    queue.put(STREAM, fields)
    queue.put(STREAM, numbered(2))
    [message] = queue.take(STREAM, GROUP, "c1")

    with caplog.at_level(logging.ERROR, logger="pixelmill.jobs"):
        queue.dead_letter(STREAM, GROUP, message, "ValueError('broken image')")

    assert queue.dead(STREAM) == 1
    assert queue.pending(STREAM, GROUP) == 0
    assert queue.depth(STREAM) == 1  # the other message only
    [letter] = queue.dead_letters(STREAM)
    first, at = letter.fields.pop(DEAD_FIRST_FAILURE), letter.fields.pop(DEAD_AT)
    assert letter.fields == {
        **fields,
        DEAD_REASON: b"ValueError('broken image')",
        DEAD_ID: message.id.encode(),
        DEAD_GROUP: GROUP.encode(),
        DEAD_DELIVERIES: b"1",
    }
    assert 0 < int(first) <= int(at) <= time.time() * 1000  # never retried: first == at
    assert any(
        r.levelno == logging.ERROR and "ValueError('broken image')" in r.getMessage()
        for r in caplog.records
    )
    # never delivered again: the next take gets the other message, then nothing
    [other] = queue.take(STREAM, GROUP, "c1")
    assert other.fields == numbered(2)
    queue.ack(STREAM, GROUP, other.id)
    assert queue.take(STREAM, GROUP, "c2", block_ms=300) == []


def test_depth_and_pending_count_what_is_not_acknowledged(open_queue: OpenQueue) -> None:
    queue = open_queue()
    for n in range(3):
        queue.put(STREAM, numbered(n))
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP), queue.dead(STREAM)) == (3, 0, 0)

    taken = queue.take(STREAM, GROUP, "c1", count=2)
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (3, 2)

    queue.ack(STREAM, GROUP, taken[0].id)
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (2, 1)
    assert queue.depth("captions:out") == 0


def test_a_full_queue_refuses_new_messages_and_keeps_the_old(open_queue: OpenQueue) -> None:
    queue = open_queue(max_length=3)
    for n in range(3):
        queue.put(STREAM, numbered(n))

    with pytest.raises(Unavailable, match="queue full") as refused:
        queue.put(STREAM, numbered(3))

    assert not isinstance(refused.value, QueueDown)
    assert refused.value.status_code == 503
    assert queue.depth(STREAM) == 3
    held = queue.take(STREAM, GROUP, "c1", count=10)
    assert [m.fields for m in held] == [numbered(0), numbered(1), numbered(2)]

    with pytest.raises(Unavailable):  # taken is not done: still counted
        queue.put(STREAM, numbered(3))
    queue.ack(STREAM, GROUP, held[0].id)
    queue.put(STREAM, numbered(3))
    assert queue.depth(STREAM) == 3


def test_put_many_adds_all_in_order_or_none(open_queue: OpenQueue) -> None:
    queue = open_queue(max_length=5)
    queue.put(STREAM, numbered(0))
    queue.put(STREAM, numbered(1))

    with pytest.raises(Unavailable, match="queue full"):  # 2 + 4 > 5: not even the first
        queue.put_many(STREAM, [numbered(n) for n in range(2, 6)])
    assert queue.depth(STREAM) == 2

    ids = queue.put_many(STREAM, [numbered(n) for n in range(2, 5)])
    assert len(set(ids)) == 3
    held = queue.take(STREAM, GROUP, "c1", count=10)
    assert [m.fields for m in held] == [numbered(n) for n in range(5)]
    assert [m.id for m in held[2:]] == ids
    with pytest.raises(TypeError):  # a bad message among good ones: nothing added
        queue.put_many(STREAM, [numbered(5), {"n": "not bytes"}])  # type: ignore[list-item]
    assert queue.depth(STREAM) == 5


def test_ack_takes_several_messages_at_once(open_queue: OpenQueue) -> None:
    queue = open_queue()
    queue.put_many(STREAM, [numbered(n) for n in range(4)])
    held = queue.take(STREAM, GROUP, "c1", count=4)

    queue.ack(STREAM, GROUP, *(m.id for m in held[:3]))

    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (1, 1)
    queue.ack(STREAM, GROUP)  # none: nothing happens
    queue.ack(STREAM, GROUP, held[3].id)
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)


def test_a_message_needs_fields_of_bytes(open_queue: OpenQueue) -> None:
    queue = open_queue()
    with pytest.raises(ValueError):
        queue.put(STREAM, {})
    with pytest.raises(TypeError):
        queue.put(STREAM, {"description": "not bytes"})  # type: ignore[dict-item]
    assert queue.depth(STREAM) == 0


def test_ping(open_queue: OpenQueue) -> None:
    assert open_queue().ping()
