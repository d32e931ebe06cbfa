"""Dead letters for the people who run pixelmill: list, show, requeue and delete them, on the
streams of the background services (`registry.SERVICES`), for the API, the CLI and the page.

    list      every letter of one stream or all: stream, id, reason, deliveries, first and
              last failure, and the job's fields, each image only by its size and kind
    show      one letter, the same way
    requeue   back onto its stream (atomic in the queue: it runs once more), and its job's
              row back to `queued`; in the embedded mode the upload goes back to the inbox
              too, so that a restart before the job is done queues it again
    delete    gone for good (its row stays `failed`)

A letter's job is the row its `id` field names: captions for `captions:in` and
`captions:out`, faces for `faces:in`.

Embedded mode from another process (the CLI while `pixelmill serve` owns the queue): the
queue lives in the server's memory, so `requeue(..., live=False)` takes the letter and
makes its job unfinished (row `queued`, upload in the inbox); the server queues it when it
next starts, like any job accepted before a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pixelmill.errors import NotFound
from pixelmill.jobs.queue import (
    BRIEF_BYTES,
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_FIRST_FAILURE,
    DEAD_GROUP,
    DEAD_ID,
    DEAD_REASON,
    DeadLetter,
    JobQueue,
    brief,
    original_fields,
)
from pixelmill.services import inbox
from pixelmill.services.registry import CAPTIONER, FACES, SERVICES
from pixelmill.services.resources import Resources

log = logging.getLogger(__name__)

STREAMS = tuple(service.stream for service in SERVICES)
# the streams whose messages carry the upload as the API accepted it (its inbox copy)
_UPLOADS = (CAPTIONER.stream, FACES.stream)
_PAGE = 100

# The kind of an image from its first bytes, for listings that never carry the bytes.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF8", 0, "gif"),
    (b"WEBP", 8, "webp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
    (b"BM", 0, "bmp"),
    (b"ftypavif", 4, "avif"),
    (b"ftypheic", 4, "heic"),
    (b"ftypmif1", 4, "heif"),
)


def streams(stream: str | None) -> tuple[str, ...]:
    """The services' streams, or the one named; 404 for a stream no service consumes."""
    if stream is None:
        return STREAMS
    if stream not in STREAMS:
        raise NotFound(f"no stream {stream!r}: the streams are {', '.join(STREAMS)}")
    return (stream,)


def list_letters(
    queue: JobQueue, stream: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Up to LIMIT letters, oldest first, stream by stream; never an image's bytes."""
    letters: list[dict[str, Any]] = []
    for name in streams(stream):
        for letter in queue.list_dead(name, count=limit - len(letters)):
            letters.append(describe(name, letter))
        if len(letters) >= limit:
            break
    return letters


def counts(queue: JobQueue) -> dict[str, int]:
    """How many letters each stream holds."""
    return {name: queue.dead(name) for name in STREAMS}


def show(queue: JobQueue, stream: str, letter_id: str) -> dict[str, Any]:
    """One letter, described as in a listing; 404 when there is none."""
    message = queue.get_dead(streams(stream)[0], letter_id)
    if message is None:
        raise _missing(stream, letter_id)
    letter = brief(message.fields)
    return describe(stream, DeadLetter(letter_id, letter.fields, letter.sizes))


def requeue(resources: Resources, stream: str, letter_id: str, *, live: bool = True) -> str:
    """Put a letter's job back to run once more; its new message id ("" when not live).
    404 when there is no such letter; 503 when the stream is full (the letter stays)."""
    queue = resources.queue
    streams(stream)
    if live:
        fields = queue.get_dead(stream, letter_id)
        new_id = queue.requeue_dead(stream, letter_id)
        if new_id is None or fields is None:
            raise _missing(stream, letter_id)
    else:
        message = queue.get_dead(stream, letter_id)
        if message is None or not queue.delete_dead(stream, letter_id):
            raise _missing(stream, letter_id)
        fields, new_id = message, ""
    _unfinish(resources, stream, original_fields(fields.fields))
    log.info("dead letter %s of %s requeued as %s", letter_id, stream, new_id or "unfinished")
    return new_id


def requeue_all(resources: Resources, stream: str | None = None, *, live: bool = True) -> int:
    """Requeue every letter (of one stream, or all); how many went back. Stops at the first
    stream that is full (503), with what was requeued so far requeued."""
    moved = 0
    for name in streams(stream):
        for letter_id in _all_ids(resources.queue, name):
            try:
                requeue(resources, name, letter_id, live=live)
            except NotFound:
                continue  # taken meanwhile, by another hand
            moved += 1
    return moved


def delete(queue: JobQueue, stream: str, letter_id: str) -> None:
    """Drop a letter; 404 when there is none."""
    if not queue.delete_dead(streams(stream)[0], letter_id):
        raise _missing(stream, letter_id)


def delete_all(queue: JobQueue, stream: str | None = None) -> int:
    """Drop every letter (of one stream, or all); how many went."""
    return sum(
        queue.delete_dead(name, letter_id)
        for name in streams(stream)
        for letter_id in _all_ids(queue, name)
    )


def describe(stream: str, letter: DeadLetter) -> dict[str, Any]:
    """A letter as JSON: what the letter says, then the job's fields (text as text; an
    image, or any long or binary value, as its size and kind)."""
    fields = letter.fields
    return {
        "stream": stream,
        "id": letter.id,
        "job_id": _text(fields.get("id", b"")),
        "reason": _text(fields.get(DEAD_REASON, b"")),
        "group": _text(fields.get(DEAD_GROUP, b"")),
        "original_id": _text(fields.get(DEAD_ID, b"")),
        "deliveries": int(fields.get(DEAD_DELIVERIES, b"0") or 0),
        "first_failure": _moment(fields.get(DEAD_FIRST_FAILURE)),
        "last_failure": _moment(fields.get(DEAD_AT)) or _moment(letter.id.split("-")[0].encode()),
        "fields": {
            name: _field(fields[name], letter.sizes.get(name, len(fields[name])))
            for name in original_fields(fields)
        },
    }


def _field(value: bytes, size: int) -> str | dict[str, Any]:
    if size <= BRIEF_BYTES:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if all(c.isprintable() or c in "\n\t" for c in text):
                return text
    return {"bytes": size, "kind": _kind(value)}


def _kind(head: bytes) -> str:
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return "binary"


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _moment(value: bytes | None) -> str | None:
    if not value or not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat(timespec="milliseconds")


def _all_ids(queue: JobQueue, stream: str) -> list[str]:
    """Every letter id of a stream as it is now (later letters are left for next time)."""
    ids: list[str] = []
    while True:
        page = queue.list_dead(stream, count=_PAGE, after=ids[-1] if ids else "")
        ids += [letter.id for letter in page]
        if len(page) < _PAGE:
            return ids


def _unfinish(resources: Resources, stream: str, fields: Mapping[str, bytes]) -> None:
    """The job runs again: its row says `queued`, and (embedded) its upload is in the inbox."""
    job_id = fields.get("id", b"").decode("utf-8", errors="replace")
    if not job_id:
        return
    if stream in _UPLOADS and "image" in fields:
        inbox.keep(resources.inbox_dir, job_id, fields["image"])
    repository = resources.face_repository if stream == FACES.stream else resources.repository
    try:
        with resources.database.session() as session:
            repository.mark(session, job_id, "queued")
    except Exception as exc:  # the job runs all the same; its row catches up when stored
        log.warning("job %s requeued, but its row still says failed: %s", job_id, exc)


def _missing(stream: str, letter_id: str) -> NotFound:
    return NotFound(f"no dead letter {letter_id!r} in stream {stream!r}")
