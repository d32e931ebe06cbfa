"""The job queue: what a message is and what every queue adapter does.

Streams and the group that consumes each (one group per stream: a stream is a work queue,
not a fan-out; live fan-out to websocket clients goes through `pixelmill.events`):

    captions:in   → group captioner   image + description + receive time, from the API
    captions:out  → group storer      captioned image + description + receive time
    faces:in      → group faces       image to look for faces in (the faces surface)
    <stream>:dead                     dead letters of <stream>, never consumed by a worker

Stream names are logical; adapters add the prefix (`<redis_prefix>:captions:in`).

A message's life:

    put ──► waiting ──take──► pending at a consumer ──ack──► gone
                ▲                 │   │
                └─ retry_later ───┘   └─dead_letter──► <stream>:dead (reason, original id)
                   (or idle longer than claim_idle_ms: taken over by another consumer)

Delivery is at least once: a consumer that dies leaves its message pending, and another
consumer takes it over after `claim_idle_ms`. So handlers are idempotent, and they make their
result durable (the next stream, or the database and the file) before the worker acknowledges.

Dead letters are kept for people to act on: `list_dead` shows them (long values, the images,
only by their size and first bytes), `get_dead` gives one whole, `requeue_dead` moves one
back onto its stream atomically (a new message, delivered afresh, so it runs once more) and
`delete_dead` drops one. Each letter carries the reason, the original id, the group, the
deliveries, and when the message first failed and when it died (ms since the epoch).

Errors: `put` raises `Unavailable` (503) when the queue is full; every method raises
`QueueDown` (an `Unavailable`) when the queue's backend cannot be reached, so the API answers
503 and the worker loop backs off and retries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pixelmill.errors import Unavailable

# Fields added to a dead letter next to the original fields.
DEAD_REASON = "dead_reason"
DEAD_ID = "dead_id"
DEAD_GROUP = "dead_group"
DEAD_DELIVERIES = "dead_deliveries"
DEAD_FIRST_FAILURE = "dead_first_failure"  # ms since the epoch: its first failed delivery
DEAD_AT = "dead_at"  # ms since the epoch: when it was given up on
DEAD_FIELDS = frozenset(
    {DEAD_REASON, DEAD_ID, DEAD_GROUP, DEAD_DELIVERIES, DEAD_FIRST_FAILURE, DEAD_AT}
)
# A listed dead letter holds values up to BRIEF_BYTES whole; of a longer one (an image) only
# its first HEAD_BYTES (enough to tell its kind) and its size.
BRIEF_BYTES = 512
HEAD_BYTES = 32
_LETTER_ID = re.compile(r"\d{1,20}-\d{1,20}")


class QueueDown(Unavailable):
    """The queue's backend cannot be reached; the worker loop backs off and retries."""


@dataclass(frozen=True)
class Message:
    """One message as a consumer receives it."""

    id: str  # the queue's message id
    fields: dict[str, bytes]  # payload; values are bytes
    deliveries: int  # 1 on first delivery, then 2, 3, ... (retries after an outage not counted)
    consumer: str = field(default="", compare=False)  # the consumer it was delivered to


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter as listed: short values whole, long ones (images) cut to their head."""

    id: str
    fields: dict[str, bytes]
    sizes: dict[str, int]  # every value's full size in bytes


class JobQueue(Protocol):
    """Bounded streams of messages consumed by groups of workers, delivered at least once."""

    def put(self, stream: str, fields: Mapping[str, bytes]) -> str:
        """Append a message and return its id; `Unavailable` when full or down (nothing added)."""
        ...

    def put_many(self, stream: str, messages: Sequence[Mapping[str, bytes]]) -> list[str]:
        """Append messages in order, all or none, and return their ids; `Unavailable` when
        they do not all fit or the queue is down (nothing added)."""
        ...

    def take(
        self, stream: str, group: str, consumer: str, *, count: int = 1, block_ms: int = 1000
    ) -> list[Message]:
        """Messages left idle by a (dead) consumer first, then new ones; [] after block_ms."""
        ...

    def ack(self, stream: str, group: str, *message_ids: str) -> None:
        """The messages are done: their results are durable."""
        ...

    def leave(self, stream: str, group: str, consumer: str) -> None:
        """The consumer stops: forget it, unless it still holds messages (others take them
        over once idle)."""
        ...

    def retry_later(
        self, stream: str, group: str, message: Message, *, counted: bool = True
    ) -> None:
        """The handler failed: leave the message to be delivered again. `counted=False`: the
        failure was not the message's (something the handler needs is down), so this
        delivery does not count toward the dead-letter limit."""
        ...

    def dead_letter(self, stream: str, group: str, message: Message, reason: str) -> None:
        """Give up: copy the message to `<stream>:dead` with the reason, then acknowledge it."""
        ...

    def dead_letters(self, stream: str, *, count: int = 100) -> list[Message]:
        """The oldest dead letters of a stream (fields hold the original ones and DEAD_*)."""
        ...

    def list_dead(self, stream: str, *, count: int = 100, after: str = "") -> list[DeadLetter]:
        """Up to COUNT dead letters of a stream, oldest first, after the letter id AFTER."""
        ...

    def get_dead(self, stream: str, letter_id: str) -> Message | None:
        """One dead letter whole, or None."""
        ...

    def requeue_dead(self, stream: str, letter_id: str) -> str | None:
        """Move a dead letter back onto its stream as a new message (its original fields),
        atomically: it runs once more. The new id; None if there is no such letter;
        `Unavailable` when the stream is full (the letter stays)."""
        ...

    def delete_dead(self, stream: str, letter_id: str) -> bool:
        """Drop a dead letter; whether there was one."""
        ...

    def depth(self, stream: str) -> int:
        """Messages not yet acknowledged: waiting and pending."""
        ...

    def pending(self, stream: str, group: str) -> int:
        """Messages taken by a consumer of the group and not yet acknowledged."""
        ...

    def dead(self, stream: str) -> int:
        """Messages in the dead-letter stream."""
        ...

    def ping(self) -> bool:
        """Whether the backend answers."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def dead_stream(stream: str) -> str:
    """The dead-letter stream of a stream."""
    return f"{stream}:dead"


def queue_full(stream: str, max_length: int) -> Unavailable:
    """The 503 of a put that the stream's bound refuses."""
    return Unavailable(f"queue full: {stream} holds {max_length} messages; try again later")


def check_fields(fields: Mapping[str, bytes]) -> None:
    """A message holds at least one field, and every value is bytes."""
    if not fields:
        raise ValueError("a message needs at least one field")
    for name, value in fields.items():
        if not isinstance(value, bytes):
            raise TypeError(f"field {name!r} must be bytes, not {type(value).__name__}")


def is_letter_id(letter_id: str) -> bool:
    """Whether a string has the shape of a message id (`<ms>-<seq>`)."""
    return _LETTER_ID.fullmatch(letter_id) is not None


def original_fields(fields: Mapping[str, bytes]) -> dict[str, bytes]:
    """A dead letter's fields without the DEAD_* ones: the message as it was put."""
    return {name: value for name, value in fields.items() if name not in DEAD_FIELDS}


def brief(fields: Mapping[str, bytes]) -> DeadLetter:
    """What a listing shows of a letter's fields (with the id filled in by the caller)."""
    return DeadLetter(
        "",
        {
            name: value if len(value) <= BRIEF_BYTES else value[:HEAD_BYTES]
            for name, value in fields.items()
        },
        {name: len(value) for name, value in fields.items()},
    )
