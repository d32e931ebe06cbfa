"""The API's accept path: a caption or face job is recorded and queued whole, or not at all.

accept               record the row (`record`), keep the upload (embedded mode), queue
                     the message; the queue says no → the row and the upload are undone
requeue_unfinished   embedded mode, at start: every job accepted and not yet stored is
                     queued again from its row and its kept upload; a row from before the
                     start with no upload was cut off between the two (never answered 202):
                     it is marked failed, not left queued for ever
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from pixelmill.errors import InvalidParameter, Unavailable
from pixelmill.jobs import RedisQueue
from pixelmill.services import captions, faces, inbox
from pixelmill.services.resources import Resources
from pixelmill.storage.models import Status

log = logging.getLogger(__name__)

CUT_OFF = "the server stopped between recording this job and keeping its upload (never accepted)"


def accept(
    resources: Resources,
    stream: str,
    id: str,
    upload: bytes,
    message: dict[str, bytes],
    record: Callable[[Session], object],
    forget: Callable[[Session], object],
) -> None:
    """Record a job (`record`), then queue `message`; undone whole (`forget`) if the queue
    says no, so nothing is left half-accepted. The embedded mode also keeps the upload in
    the inbox until the job is stored."""
    try:
        with resources.database.session() as session:
            record(session)
    except DataError as exc:  # the row itself: a retry would be refused again
        log.warning("the database refused job %s: %s", id, exc.orig)
        raise InvalidParameter(
            "a field holds a value the database cannot store (a NUL character, or one too long)"
        ) from None
    except Unavailable:
        raise
    except Exception as exc:
        log.warning("cannot record job %s: %s: %s", id, type(exc).__name__, exc)
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from None
    try:
        inbox.keep(resources.inbox_dir, id, upload)
        _put(resources, stream, message)
    except Exception:
        with resources.database.session() as session:
            forget(session)
        inbox.forget(resources.inbox_dir, id)
        raise


def requeue_unfinished(
    resources: Resources, stop: threading.Event, retry_seconds: float = 0.2
) -> int:
    """Embedded mode: put back on the queue every accepted job not yet stored; while the
    queue is full, wait for the workers to make room (until STOP is set)."""
    inbox_dir = resources.inbox_dir
    if inbox_dir is None:
        return 0
    with resources.database.session() as session:  # the values read while it is open
        cut_off = [
            (repository, row.id)
            for repository in (resources.repository, resources.face_repository)
            for row in repository.unfinished(session)
            if row.created_at < resources.opened_at and not (inbox_dir / row.id).is_file()
        ]
        for repository, id in cut_off:
            repository.mark(session, id, Status.FAILED, error=CUT_OFF)
        if cut_off:
            log.warning("%d jobs were recorded but never kept: marked failed", len(cut_off))
        jobs = [
            (
                captions.INBOX,
                row.id,
                partial(
                    captions.accepted_message,
                    row.id,
                    description=row.description,
                    received_at=row.received_at,
                ),
            )
            for row in resources.repository.unfinished(session)
        ] + [
            (
                faces.INBOX,
                row.id,
                partial(
                    faces.accepted_message, row.id, filename=row.filename, created_at=row.created_at
                ),
            )
            for row in resources.face_repository.unfinished(session)
        ]
    count = 0
    for index, (stream, id, message) in enumerate(jobs):
        upload = inbox_dir / id
        if not upload.is_file():
            continue
        fields = message(image=upload.read_bytes())
        while True:
            try:
                resources.queue.put(stream, fields)
                break
            except Unavailable as exc:  # full, or down: the workers make room
                if stop.wait(retry_seconds):
                    left = len(jobs) - index
                    log.warning("stopped with up to %d jobs still to queue again", left)
                    return count
                log.debug("waiting to queue again: %s", exc.detail)
        count += 1
    if count:
        log.info("queued again %d jobs accepted before the restart", count)
    return count


def _put(resources: Resources, stream: str, fields: dict[str, bytes]) -> str:
    durable = resources.settings.redis_durable_accept
    try:
        if durable != "none" and isinstance(resources.queue, RedisQueue):
            # answered 202 only once the job outlives a crash of Redis (its disk, a replica)
            timeout_ms = resources.settings.redis_durable_timeout_ms
            return resources.queue.put_durably(stream, fields, durable, timeout_ms)
        return resources.queue.put(stream, fields)
    except Unavailable:
        raise
    except Exception as exc:  # a queue must never turn a client's request into a 500
        raise Unavailable(f"queue unavailable: {exc}") from None
