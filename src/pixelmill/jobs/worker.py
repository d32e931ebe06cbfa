"""The worker loop: take a message, hand it to the handler, acknowledge it; until stopped.

The handler's contract: make the result durable (put it on the next stream, or write the
database row and the file) before returning, and be idempotent. The loop acknowledges only
after the handler returns, so a worker killed mid-message leaves the message to another.

    handler returns               → ack
    handler raises Unavailable    → something it needs is down, not the message's fault:
                                    retry_later, then back off like an outage
    handler raises anything else  → logged with its traceback; retry_later, or dead_letter
                                    once the message has had max_deliveries
    the queue is down (QueueDown) → logged once per outage; capped exponential back-off

Batches: a handler with a `many(messages)` method takes up to `batch` messages at once (only
those already waiting: a take never waits for a batch to fill) and makes them all durable
together, in one transaction and one queue round trip; the loop then acknowledges them in one
call. When a batch fails, its messages are handled again one at a time, so that only the
message at fault is retried or dead-lettered; the first `Unavailable` stops that and leaves
the rest to be retried.

Every message handled is recorded in `stats` (done, retried or failed, and its duration).

Drain mode (`drain=True`, like arq's burst mode) returns once the stream holds nothing
unacknowledged: no message waiting, none pending at any consumer; tests run a worker inline
with it.

Shutdown has two phases: `stop` set (first SIGTERM/SIGINT) → the message (or batch) in hand
is finished and acknowledged, no other is taken; a second signal raises SystemExit at once,
leaving what is in hand pending for redelivery.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import ClassVar

from pixelmill.errors import Unavailable
from pixelmill.jobs.heartbeat import Heartbeats
from pixelmill.jobs.queue import JobQueue, Message
from pixelmill.jobs.stats import JobStats, Outcome

log = logging.getLogger("pixelmill.worker")

Handler = Callable[[Message], None]
# a handler's optional `many`: make several messages durable at once
BatchHandler = Callable[[Sequence[Message]], None]


FIRST_BACKOFF_SECONDS = 0.1


def run_worker(
    queue: JobQueue,
    stream: str,
    group: str,
    consumer: str,
    handler: Handler,
    *,
    stop: threading.Event | None = None,
    max_deliveries: int,
    heartbeats: Heartbeats | None = None,
    heartbeat_seconds: float = 5.0,
    stats: JobStats | None = None,
    block_ms: int = 1000,
    max_backoff_seconds: float = 10.0,
    batch: int = 1,
    drain: bool = False,
) -> None:
    """Handle the messages of STREAM as CONSUMER of GROUP until STOP is set (or, with DRAIN,
    until the stream is empty); up to BATCH at once when the handler has `many`."""
    log.info("%s of %s started on %s", consumer, group, stream)
    stop = stop if stop is not None else threading.Event()
    _Pulse.join(heartbeats, group, consumer, heartbeat_seconds)
    try:
        _loop(
            queue,
            stream,
            group,
            consumer,
            handler,
            stop,
            max_deliveries,
            stats,
            block_ms,
            max_backoff_seconds,
            batch,
            drain,
        )
    finally:
        _Pulse.leave(heartbeats, group, consumer)
    log.info("%s of %s stopped", consumer, group)


def _loop(
    queue: JobQueue,
    stream: str,
    group: str,
    consumer: str,
    handler: Handler,
    stop: threading.Event,
    max_deliveries: int,
    stats: JobStats | None,
    block_ms: int,
    max_backoff_seconds: float,
    batch: int,
    drain: bool,
) -> None:
    outage = _Outage(consumer, stop, max_backoff_seconds)
    many: BatchHandler | None = getattr(handler, "many", None)
    count = batch if many is not None else 1
    while not stop.is_set():
        if stats is not None:
            stats.flush()
        try:
            messages = queue.take(stream, group, consumer, count=count, block_ms=block_ms)
            messages = _bury_the_fatal(queue, stream, group, messages, max_deliveries, stats)
            if many is not None and len(messages) > 1:
                _handle_batch(queue, stream, group, messages, handler, many, max_deliveries, stats)
            elif messages:
                _handle(queue, stream, group, messages[0], handler, max_deliveries, stats)
            drained = drain and not messages and queue.depth(stream) == 0
        except Exception as error:  # the queue is down, or what the handler needs
            outage.wait(error)
        else:
            outage.over()
            if drained:
                break
    try:
        queue.leave(stream, group, consumer)
    except Exception as error:  # the queue is down: the others forget it later
        log.debug("%s could not leave %s: %s", consumer, group, error)


def _bury_the_fatal(
    queue: JobQueue,
    stream: str,
    group: str,
    messages: list[Message],
    max_deliveries: int,
    stats: JobStats | None,
) -> list[Message]:
    """Dead-letter the messages delivered more often than `max_deliveries` without an
    outcome: each time, the process handling it died (a crash, an out-of-memory kill), so
    no handler ever failed it; handing it out again would only kill the next one. The rest,
    to be handled."""
    alive = []
    for message in messages:
        if message.deliveries <= max_deliveries:
            alive.append(message)
            continue
        queue.dead_letter(
            stream,
            group,
            message,
            f"delivered {message.deliveries - 1} times, and the process handling it died "
            "each time (a crash or a kill) before it was done",
        )
        if stats is not None:
            stats.record(group, "failed", 0.0)
    return alive


def _handle(
    queue: JobQueue,
    stream: str,
    group: str,
    message: Message,
    handler: Handler,
    max_deliveries: int,
    stats: JobStats | None = None,
) -> None:
    started = time.perf_counter()

    def note(outcome: Outcome) -> None:
        if stats is not None:
            stats.record(group, outcome, time.perf_counter() - started)

    try:
        handler(message)
    except Unavailable:
        queue.retry_later(stream, group, message, counted=False)
        note("retried")
        raise
    except Exception as error:
        log.exception(
            "%s: message %s failed (delivery %d of %d)",
            group,
            message.id,
            message.deliveries,
            max_deliveries,
        )
        if message.deliveries >= max_deliveries:
            queue.dead_letter(stream, group, message, repr(error))
            note("failed")
        else:
            queue.retry_later(stream, group, message)
            note("retried")
    else:
        queue.ack(stream, group, message.id)  # the handler made its result durable
        note("done")


def _handle_batch(
    queue: JobQueue,
    stream: str,
    group: str,
    messages: list[Message],
    handler: Handler,
    many: BatchHandler,
    max_deliveries: int,
    stats: JobStats | None = None,
) -> None:
    started = time.perf_counter()
    try:
        many(messages)
    except Exception as error:
        log.info(
            "%s: a batch of %d messages failed (%s); handling them one at a time",
            group,
            len(messages),
            error.detail if isinstance(error, Unavailable) else repr(error),
        )
        for index, message in enumerate(messages):
            try:
                _handle(queue, stream, group, message, handler, max_deliveries, stats)
            except Unavailable:
                for rest in messages[index + 1 :]:
                    queue.retry_later(stream, group, rest, counted=False)
                    if stats is not None:
                        stats.record(group, "retried", 0.0)
                raise
        return
    queue.ack(stream, group, *(message.id for message in messages))
    if stats is not None:
        each = (time.perf_counter() - started) / len(messages)
        for _ in messages:
            stats.record(group, "done", each)


class _Outage:
    """Capped exponential back-off while something is down; logged once per outage."""

    def __init__(self, consumer: str, stop: threading.Event, max_seconds: float) -> None:
        self._consumer = consumer
        self._stop = stop
        self._max_seconds = max_seconds
        self._delay = 0.0
        self._since: float | None = None

    def wait(self, error: Exception) -> None:
        if self._since is None:
            self._since = time.monotonic()
            self._delay = FIRST_BACKOFF_SECONDS
            # Unavailable (a full next queue, a component down) is expected and its detail
            # says it all; anything else gets its traceback.
            expected = isinstance(error, Unavailable)
            log.warning(
                "%s: %s; retrying with back-off",
                self._consumer,
                error.detail if isinstance(error, Unavailable) else repr(error),
                exc_info=None if expected else error,
            )
        else:
            self._delay = min(self._delay * 2, self._max_seconds)
        # jitter, so that workers do not all come back in the same instant
        self._stop.wait(self._delay * random.uniform(0.5, 1.0))

    def over(self) -> None:
        if self._since is not None:
            log.info("%s: back after %.1f s", self._consumer, time.monotonic() - self._since)
            self._since = None


class _Pulse:
    """Heartbeats of every consumer of the process, every `seconds`, from one thread of their
    own while their loops run: a batch that takes longer than three beats (16 face
    detections on a busy machine) does not make its live consumer look gone. Stuck work is
    not theirs to tell: an unacknowledged message is claimed by another consumer after
    `claim_idle_ms`, whatever the heartbeats say."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _running: ClassVar[dict[int, _Pulse]] = {}  # id(heartbeats) -> its pulse

    def __init__(self, heartbeats: Heartbeats, seconds: float) -> None:
        self._heartbeats = heartbeats
        self._seconds = seconds
        self._consumers: set[tuple[str, str]] = set()
        self._stopped = threading.Event()

    @classmethod
    def join(
        cls, heartbeats: Heartbeats | None, service: str, consumer: str, seconds: float
    ) -> None:
        """CONSUMER of SERVICE beats from now on (at once, then every `seconds`)."""
        if heartbeats is None:
            return
        with cls._lock:
            pulse = cls._running.get(id(heartbeats))
            if pulse is None:
                pulse = cls._running[id(heartbeats)] = cls(heartbeats, seconds)
                name = "pixelmill-heartbeats"
                threading.Thread(target=pulse._run, name=name, daemon=True).start()
            pulse._consumers.add((service, consumer))
        pulse._beat(service, consumer)

    @classmethod
    def leave(cls, heartbeats: Heartbeats | None, service: str, consumer: str) -> None:
        """CONSUMER of SERVICE beats no more; the last one out stops the thread."""
        if heartbeats is None:
            return
        with cls._lock:
            pulse = cls._running.get(id(heartbeats))
            if pulse is None:
                return
            pulse._consumers.discard((service, consumer))
            if not pulse._consumers:
                del cls._running[id(heartbeats)]
                pulse._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            with self._lock:
                consumers = sorted(self._consumers)
            for service, consumer in consumers:
                self._beat(service, consumer)

    def _beat(self, service: str, consumer: str) -> None:
        try:
            self._heartbeats.beat(service, consumer)
        except Unavailable as error:
            log.debug("%s: no heartbeat: %s", consumer, error.detail)
        except Exception:  # best effort; the loop itself reports an outage
            log.debug("%s: no heartbeat", consumer, exc_info=True)


def install_signal_handlers(
    stop: threading.Event, hard_stop: threading.Event | None = None
) -> Callable[[], None]:
    """SIGTERM and SIGINT: the first sets STOP, the second sets HARD_STOP and exits at once.

    Call it from the main thread; run worker loops in daemon threads so that the SystemExit
    raised there ends the process. Returns a function that puts the previous handlers back.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info("%s: finishing the message in hand; again to stop at once", _name(signum))
            stop.set()
            return
        log.warning("%s again: stopping at once", _name(signum))
        if hard_stop is not None:
            hard_stop.set()
        raise SystemExit(128 + signum)

    previous = {number: signal.signal(number, on_signal) for number in _STOP_SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _name(signum: int) -> str:
    return signal.Signals(signum).name
