"""The job queue in this process, for the embedded default: same semantics as Redis Streams.

A stream holds waiting messages (in order) and pending ones (taken, not acknowledged).
`retry_later` puts a message back at the end of the waiting line at once; a pending message
idle longer than `claim_idle_ms` is taken over by the next `take`, as on Redis. Nothing
survives the process: the API and the database make accepted work durable in this mode.
Dead letters do when given a folder (`dead_dir`; see `dead_store.py`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pixelmill.jobs.dead_store import DeadStore, FolderDeadStore, MemoryDeadStore
from pixelmill.jobs.queue import (
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_FIRST_FAILURE,
    DEAD_GROUP,
    DEAD_ID,
    DEAD_REASON,
    DeadLetter,
    Message,
    QueueDown,
    check_fields,
    original_fields,
    queue_full,
)

log = logging.getLogger("pixelmill.jobs")


@dataclass
class _Entry:
    id: str
    fields: dict[str, bytes]
    deliveries: int = 0
    consumer: str = ""
    taken_at: float = 0.0
    first_failure: int | None = None  # ms since the epoch

    def deliver(self, consumer: str, now: float) -> Message:
        self.deliveries += 1
        self.consumer = consumer
        self.taken_at = now
        return Message(self.id, dict(self.fields), self.deliveries, consumer)


@dataclass
class _Stream:
    changed: threading.Condition  # its consumers wait here, on the queue's one lock
    group: str | None = None
    waiting: deque[_Entry] = field(default_factory=deque)
    pending: dict[str, _Entry] = field(default_factory=dict)


class MemoryQueue:
    """JobQueue held in this process; thread-safe."""

    def __init__(
        self, max_length: int, *, claim_idle_ms: int = 60_000, dead_dir: Path | None = None
    ) -> None:
        self._max_length = max_length
        self._dead: DeadStore = (
            MemoryDeadStore(max_length)
            if dead_dir is None
            else FolderDeadStore(dead_dir, max_length)
        )
        self._claim_idle = claim_idle_ms / 1000
        self._streams: dict[str, _Stream] = {}
        self._ids = itertools.count(1)
        # one lock for every stream, a condition per stream on it: a put wakes only the
        # consumers of its stream (one for all woke every service thread of the process, at
        # every message, each to find nothing and take its turn at the GIL)
        self._lock = threading.Lock()
        self._closed = False

    def put(self, stream: str, fields: Mapping[str, bytes]) -> str:
        return self.put_many(stream, [fields])[0]

    def put_many(self, stream: str, messages: Sequence[Mapping[str, bytes]]) -> list[str]:
        for fields in messages:
            check_fields(fields)
        with self._lock:
            self._check_open()
            held = self._stream(stream)
            if len(held.waiting) + len(held.pending) + len(messages) > self._max_length:
                raise queue_full(stream, self._max_length)
            entries = [_Entry(f"{next(self._ids)}-0", dict(fields)) for fields in messages]
            held.waiting.extend(entries)
            held.changed.notify_all()
            return [entry.id for entry in entries]

    def take(
        self, stream: str, group: str, consumer: str, *, count: int = 1, block_ms: int = 1000
    ) -> list[Message]:
        deadline = time.monotonic() + max(block_ms, 0) / 1000
        with self._lock:
            while True:
                self._check_open()
                held = self._stream(stream, group)
                now = time.monotonic()
                messages = self._reclaim(held, consumer, now) or self._take_new(
                    held, consumer, count, now
                )
                if messages or now >= deadline:
                    return messages
                held.changed.wait(min(deadline, self._next_claimable(held)) - now)

    def ack(self, stream: str, group: str, *message_ids: str) -> None:
        with self._lock:
            pending = self._stream(stream, group).pending
            for message_id in message_ids:
                pending.pop(message_id, None)

    def leave(self, stream: str, group: str, consumer: str) -> None:
        pass  # consumers are known here only by the messages they hold

    def retry_later(
        self, stream: str, group: str, message: Message, *, counted: bool = True
    ) -> None:
        with self._lock:
            held = self._stream(stream, group)
            entry = held.pending.pop(message.id, None)
            if entry is not None:
                if not counted:
                    entry.deliveries -= 1
                elif entry.first_failure is None:
                    entry.first_failure = _now_ms()
                held.waiting.append(entry)
                held.changed.notify_all()

    def dead_letter(self, stream: str, group: str, message: Message, reason: str) -> None:
        with self._lock:
            held = self._stream(stream, group)
            entry = held.pending.pop(message.id, None)
            if entry is None:
                log.warning(
                    "message %s of %s was no longer pending; not dead-lettered", message.id, stream
                )
                return
            now = _now_ms()
            letter = {
                **entry.fields,
                DEAD_REASON: reason.encode(),
                DEAD_ID: entry.id.encode(),
                DEAD_GROUP: group.encode(),
                DEAD_DELIVERIES: str(entry.deliveries).encode(),
                DEAD_FIRST_FAILURE: str(entry.first_failure or now).encode(),
                DEAD_AT: str(now).encode(),
            }
            self._dead.add(stream, letter)
        log.error(
            "dead letter: message %s of %s (group %s) after %d deliveries: %s",
            message.id,
            stream,
            group,
            entry.deliveries,
            reason,
        )

    def dead_letters(self, stream: str, *, count: int = 100) -> list[Message]:
        letters = []
        for listed in self._dead.page(stream, count, ""):
            fields = self._dead.get(stream, listed.id)
            if fields is not None:
                deliveries = int(fields.get(DEAD_DELIVERIES, b"0"))
                letters.append(Message(listed.id, fields, deliveries))
        return letters

    def list_dead(self, stream: str, *, count: int = 100, after: str = "") -> list[DeadLetter]:
        return self._dead.page(stream, count, after)

    def get_dead(self, stream: str, letter_id: str) -> Message | None:
        fields = self._dead.get(stream, letter_id)
        if fields is None:
            return None
        return Message(letter_id, fields, int(fields.get(DEAD_DELIVERIES, b"0")))

    def requeue_dead(self, stream: str, letter_id: str) -> str | None:
        with self._lock:  # the stream's room and the move, together
            self._check_open()
            held = self._stream(stream)
            if len(held.waiting) + len(held.pending) >= self._max_length:
                if self._dead.get(stream, letter_id) is None:
                    return None
                raise queue_full(stream, self._max_length)
            fields = self._dead.take(stream, letter_id)
            if fields is None:
                return None
            entry = _Entry(f"{next(self._ids)}-0", original_fields(fields))
            held.waiting.append(entry)
            held.changed.notify_all()
            return entry.id

    def delete_dead(self, stream: str, letter_id: str) -> bool:
        return self._dead.take(stream, letter_id) is not None

    def depth(self, stream: str) -> int:
        with self._lock:
            held = self._stream(stream)
            return len(held.waiting) + len(held.pending)

    def pending(self, stream: str, group: str) -> int:
        with self._lock:
            return len(self._stream(stream, group).pending)

    def dead(self, stream: str) -> int:
        return self._dead.count(stream)

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for held in self._streams.values():
                held.changed.notify_all()

    def _reclaim(self, held: _Stream, consumer: str, now: float) -> list[Message]:
        # one at a time, as on Redis: a message that killed its consumer takes no other down
        for entry in held.pending.values():
            if now - entry.taken_at >= self._claim_idle:
                return [entry.deliver(consumer, now)]
        return []

    def _take_new(self, held: _Stream, consumer: str, count: int, now: float) -> list[Message]:
        messages: list[Message] = []
        while held.waiting and len(messages) < count:
            entry = held.waiting.popleft()
            held.pending[entry.id] = entry
            messages.append(entry.deliver(consumer, now))
        return messages

    def _next_claimable(self, held: _Stream) -> float:
        if not held.pending:
            return float("inf")
        return min(e.taken_at for e in held.pending.values()) + self._claim_idle

    def _stream(self, stream: str, group: str | None = None) -> _Stream:
        held = self._streams.get(stream)
        if held is None:
            held = self._streams[stream] = _Stream(threading.Condition(self._lock))
        if group is not None:
            if held.group is None:
                held.group = group
            elif held.group != group:
                raise ValueError(
                    f"stream {stream} is consumed by group {held.group}, not {group}: "
                    "one group per stream"
                )
        return held

    def _check_open(self) -> None:
        if self._closed:
            raise QueueDown("queue unavailable: closed")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
