"""The worker loop: acks, retries, dead letters, back-off, heartbeats and the two-phase stop.

Each test runs the loop inline in drain mode: it returns once the stream is empty.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import redis

from pixelmill.errors import Unavailable
from pixelmill.jobs import (
    JobQueue,
    MemoryHeartbeats,
    MemoryQueue,
    Message,
    QueueDown,
    RedisQueue,
    install_signal_handlers,
    run_worker,
)
from pixelmill.jobs.queue import DEAD_REASON
from pixelmill.redis_client import connect
from tests.jobs.conftest import OpenQueue
from tests.redis_server import SHARED_REDIS_URL

STREAM = "captions:in"
GROUP = "captioner"


def drain(queue: JobQueue, handler: Callable[[Message], None], **options: Any) -> None:
    """run_worker as consumer w1, here and now, until the stream holds nothing."""
    settings: dict[str, Any] = {"max_deliveries": 3, "block_ms": 50, "max_backoff_seconds": 0.2}
    settings.update(options)
    run_worker(queue, STREAM, GROUP, "w1", handler, drain=True, **settings)


def test_drain_returns_once_nothing_waits_and_nothing_is_pending_anywhere(
    open_queue: OpenQueue,
) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put_many(STREAM, [{"n": b"1"}, {"n": b"2"}])
    queue.take(STREAM, GROUP, "killed")  # its consumer died holding it
    handled: list[tuple[bytes, int]] = []

    drain(queue, lambda message: handled.append((message.fields["n"], message.deliveries)))

    assert sorted(handled) == [(b"1", 2), (b"2", 1)]  # the held one taken over once idle
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)
    drain(queue, handled.append)  # an empty stream: back at once, nothing handled
    assert len(handled) == 2


def test_a_poison_message_ends_in_the_dead_letters_and_the_others_are_handled_once(
    open_queue: OpenQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = open_queue(claim_idle_ms=200)
    for name in (b"good-1", b"poison", b"good-2"):
        queue.put(STREAM, {"name": name})
    calls: Counter[bytes] = Counter()

    def handler(message: Message) -> None:
        calls[message.fields["name"]] += 1
        if message.fields["name"] == b"poison":
            raise ValueError("cannot decode")

    drain(queue, handler, max_deliveries=3)

    assert calls == {b"good-1": 1, b"good-2": 1, b"poison": 3}
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)
    [letter] = queue.dead_letters(STREAM)
    assert letter.fields[DEAD_REASON] == b"ValueError('cannot decode')"
    assert letter.fields["name"] == b"poison"
    failures = [r for r in caplog.records if r.name == "pixelmill.worker" and r.exc_info]
    assert len(failures) == 3  # each failure logged with its traceback


def test_stop_finishes_the_message_in_hand_and_takes_no_other(open_queue: OpenQueue) -> None:
    queue = open_queue()
    queue.put(STREAM, {"n": b"1"})
    queue.put(STREAM, {"n": b"2"})
    stop = threading.Event()
    handled: list[bytes] = []

    def handler(message: Message) -> None:
        stop.set()  # the first signal, while the handler runs
        handled.append(message.fields["n"])

    run_worker(queue, STREAM, GROUP, "w1", handler, stop=stop, max_deliveries=3, block_ms=50)

    assert handled == [b"1"]
    assert queue.pending(STREAM, GROUP) == 0  # the one in hand was acknowledged
    assert queue.depth(STREAM) == 1  # the other was left for the next worker
    [left] = queue.take(STREAM, GROUP, "next")
    assert (left.fields, left.deliveries) == ({"n": b"2"}, 1)


@pytest.mark.redis
def test_a_worker_that_stops_leaves_the_consumer_group(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    client = connect(SHARED_REDIS_URL)
    queue = RedisQueue(client, redis_prefix, max_length=100, claim_idle_ms=60_000)
    key = f"{redis_prefix}:{STREAM}"
    queue.put(STREAM, {"n": b"1"})
    members: list[list[bytes]] = []

    def handler(message: Message) -> None:
        members.append([c["name"] for c in redis_client.xinfo_consumers(key, GROUP)])

    try:
        drain(queue, handler)
    finally:
        client.close()

    assert members == [[b"w1"]]  # a member while it worked
    assert redis_client.xinfo_consumers(key, GROUP) == []
    assert redis_client.xinfo_groups(key)[0]["consumers"] == 0


def test_a_component_down_in_the_handler_is_not_the_messages_fault(
    open_queue: OpenQueue,
) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put(STREAM, {"n": b"1"})
    attempts: list[int] = []

    def handler(message: Message) -> None:
        attempts.append(message.deliveries)
        if len(attempts) <= 2:
            raise Unavailable("database unavailable: connection refused")

    drain(queue, handler, max_deliveries=1)

    assert attempts == [1, 1, 1]  # a delivery that met an outage does not count
    assert queue.dead(STREAM) == 0


class Batching:
    """A handler with `many`: records each call; `bad` names fail wherever they are, and
    `unavailable` names raise Unavailable the first time they are handled alone."""

    def __init__(
        self, bad: frozenset[bytes] = frozenset(), unavailable: frozenset[bytes] = frozenset()
    ) -> None:
        self.bad, self.unavailable = bad, set(unavailable)
        self.batches: list[list[bytes]] = []
        self.alone: list[bytes] = []
        self.done: list[bytes] = []

    def many(self, messages: Sequence[Message]) -> None:
        names = [m.fields["name"] for m in messages]
        self.batches.append(names)
        if self.bad & set(names):
            raise ValueError("cannot decode")
        if self.unavailable & set(names):
            raise Unavailable("queue full: captions:out holds 3 messages; try again later")
        self.done += names

    def __call__(self, message: Message) -> None:
        name = message.fields["name"]
        self.alone.append(name)
        if name in self.bad:
            raise ValueError("cannot decode")
        if name in self.unavailable:
            self.unavailable.discard(name)
            raise Unavailable("queue full: captions:out holds 3 messages; try again later")
        self.done.append(name)


def names(*numbers: int) -> list[bytes]:
    return [f"m{n}".encode() for n in numbers]


def test_waiting_messages_are_handled_in_batches_and_acknowledged_together(
    open_queue: OpenQueue,
) -> None:
    queue = open_queue()
    queue.put_many(STREAM, [{"name": name} for name in names(*range(10))])
    handler = Batching()

    drain(queue, handler, batch=4)

    assert handler.batches == [names(0, 1, 2, 3), names(4, 5, 6, 7), names(8, 9)]
    assert handler.alone == []
    assert handler.done == names(*range(10))
    assert queue.pending(STREAM, GROUP) == 0


def test_a_handler_without_many_gets_one_message_at_a_time(open_queue: OpenQueue) -> None:
    queue = open_queue()
    queue.put_many(STREAM, [{"name": name} for name in names(0, 1, 2)])
    seen: list[int] = []

    drain(queue, lambda message: seen.append(queue.pending(STREAM, GROUP)), batch=8)

    assert seen == [1, 1, 1]  # one taken each time


def test_a_poison_message_in_a_batch_fails_alone(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put_many(STREAM, [{"name": name} for name in names(0, 1, 2, 3)])
    handler = Batching(bad=frozenset({b"m2"}))

    drain(queue, handler, batch=4, max_deliveries=2)

    assert handler.batches == [names(0, 1, 2, 3)]
    assert handler.done == names(0, 1, 3)  # each once
    assert handler.alone == names(0, 1, 2, 3, 2)  # the poison twice: max_deliveries
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)
    [letter] = queue.dead_letters(STREAM)
    assert letter.fields["name"] == b"m2"


def test_unavailable_in_a_failed_batch_leaves_the_rest_for_later(open_queue: OpenQueue) -> None:
    queue = open_queue(claim_idle_ms=200)
    queue.put_many(STREAM, [{"name": name} for name in names(0, 1, 2, 3)])
    handler = Batching(unavailable=frozenset({b"m1"}))

    drain(queue, handler, batch=4)

    # alone: m0 done, m1 down, so m2 and m3 are not tried; later m1..m3 come back: as a
    # batch where they wait again (memory), one at a time where they are taken over (Redis)
    if isinstance(queue, MemoryQueue):
        assert handler.batches == [names(0, 1, 2, 3), names(1, 2, 3)]
        assert handler.alone == names(0, 1)
    else:
        assert handler.batches == [names(0, 1, 2, 3)]
        assert handler.alone == names(0, 1, 1, 2, 3)
    assert handler.done == names(0, 1, 2, 3)
    assert queue.dead(STREAM) == 0


class Crash(BaseException):
    """What a native crash or an out-of-memory kill does to a worker: it stops right there,
    acknowledging nothing and failing nothing."""


class Fatal:
    """A batch handler that `fatal` kills, alone or in a batch."""

    def __init__(self, fatal: bytes) -> None:
        self.fatal = fatal
        self.done: list[bytes] = []

    def many(self, messages: Sequence[Message]) -> None:
        names = [m.fields["name"] for m in messages]
        if self.fatal in names:
            raise Crash
        self.done += names

    def __call__(self, message: Message) -> None:
        self.many([message])


def test_a_message_that_kills_every_worker_ends_in_the_dead_letters_alone(
    open_queue: OpenQueue,
) -> None:
    queue = open_queue(claim_idle_ms=100)
    queue.put_many(STREAM, [{"name": name} for name in [b"good-1", b"fatal", b"good-2"]])
    handler = Fatal(b"fatal")
    deaths = 0
    while deaths < 10:
        try:  # one worker process after another, each started again when the last died
            run_worker(
                queue,
                STREAM,
                GROUP,
                f"w{deaths}",
                handler,
                max_deliveries=3,
                block_ms=20,
                batch=16,
                drain=True,
            )
            break
        except Crash:
            deaths += 1

    assert deaths == 3  # one per delivery up to max_deliveries; the fourth is not handed out
    [letter] = queue.dead_letters(STREAM)
    assert letter.fields["name"] == b"fatal"
    assert b"died each time" in letter.fields[DEAD_REASON]
    assert sorted(handler.done) == [b"good-1", b"good-2"]  # each once: taken over alone
    assert (queue.depth(STREAM), queue.pending(STREAM, GROUP)) == (0, 0)


class FlakyQueue:
    """A MemoryQueue whose first `outage` takes raise QueueDown."""

    def __init__(self, outage: int) -> None:
        self.inner = MemoryQueue(100)
        self.outage = outage
        self.failed_takes = 0

    def take(self, stream: str, group: str, consumer: str, **options: Any) -> list[Message]:
        if self.failed_takes < self.outage:
            self.failed_takes += 1
            raise QueueDown("queue unavailable: cannot reach Redis")
        return self.inner.take(stream, group, consumer, **options)

    def put(self, stream: str, fields: Mapping[str, bytes]) -> str:
        return self.inner.put(stream, fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_loop_backs_off_while_the_queue_is_down_and_logs_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pixelmill.worker")
    queue = FlakyQueue(outage=4)
    queue.put(STREAM, {"n": b"1"})
    handled: list[Message] = []

    drain(queue, handled.append)  # type: ignore[arg-type]

    assert [message.fields for message in handled] == [{"n": b"1"}]  # after the outage
    assert queue.failed_takes == 4
    down = [r for r in caplog.records if "retrying with back-off" in r.getMessage()]
    assert len(down) == 1
    assert down[0].levelno == logging.WARNING
    assert "queue unavailable: cannot reach Redis" in down[0].getMessage()
    assert any("back after" in r.getMessage() for r in caplog.records)
    assert queue.pending(STREAM, GROUP) == 0


def test_the_worker_beats_while_it_runs() -> None:
    queue = MemoryQueue(10)
    queue.put(STREAM, {"n": b"1"})
    heartbeats = MemoryHeartbeats(heartbeat_seconds=5.0)
    alive: list[list[str]] = []

    drain(queue, lambda message: alive.append(heartbeats.alive(GROUP)), heartbeats=heartbeats)

    assert alive == [["w1"]]


def test_the_first_signal_stops_gently_and_the_second_at_once() -> None:
    stop, hard_stop = threading.Event(), threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = install_signal_handlers(stop, hard_stop)
    try:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set() and not hard_stop.is_set()

        with pytest.raises(SystemExit):
            signal.raise_signal(signal.SIGTERM)
        assert hard_stop.is_set()
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before
