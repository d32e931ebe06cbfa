"""The API's accept path: a caption or face job is recorded and queued whole, or not at all.

Job                  a caption or face job as a route hands it over: its queue, id, upload,
                     message, and how its row is recorded and undone
accept               record the row (`record`), keep the upload (embedded mode), queue
                     the message; the queue says no → the row and the upload are undone
Recorder             embedded mode: `accept` for the uploads of many requests at once, their
                     rows in one transaction (group commit), from one thread; SQLite has one
                     writer at a time, and a row per request from several threads kept them
                     waiting on each other in its busy handler (sleeps of 1 to 100 ms: 23 ms
                     per row on average, 330 ms at p99, with 8 clients)
requeue_unfinished   embedded mode, at start: every job accepted and not yet stored is
                     queued again from its row and its kept upload; a row from before the
                     start with no upload was cut off between the two (never answered 202):
                     it is marked failed, not left queued for ever
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Job:
    """A job to accept: `message` for the queue `stream`, `upload` kept under `id` (embedded
    mode) until it is stored, its row recorded by `record` and undone by `forget`."""

    stream: str
    id: str
    upload: bytes
    message: dict[str, bytes]
    record: Callable[[Session], object]
    forget: Callable[[Session], object]


def accept(resources: Resources, job: Job) -> None:
    """Record a job (`record`), then queue its message; undone whole (`forget`) if the queue
    says no, so nothing is left half-accepted. The embedded mode also keeps the upload in
    the inbox until the job is stored."""
    _record(resources, [job])
    _keep_and_queue(resources, job)


class Recorder:
    """`accept` for many requests at once, on a thread of its own: the rows of every job
    waiting (up to `batch`) in one transaction, then each upload kept and queued as
    `accept` does. A batch the database refuses is accepted again one job at a time, so
    each request gets its own answer (a 422 for the row at fault, a 503 when it is down)."""

    def __init__(self, resources: Resources, batch: int = 64) -> None:
        self.resources = resources
        self.batch = batch
        self._waiting: deque[tuple[Job, Future[None]]] = deque()  # each with its answer
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: Job) -> Future[None]:
        """Done once `job` is accepted, or with what refused it."""
        answer: Future[None] = Future()
        with self._changed:
            if self._closed:
                raise Unavailable("the service is stopping")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pixelmill-recorder", daemon=True
                )
                self._thread.start()
            self._waiting.append((job, answer))
            self._changed.notify()
        return answer

    def close(self) -> None:
        """Accept the jobs already submitted, then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if not self._waiting:
                    return
                count = min(self.batch, len(self._waiting))
                jobs = [self._waiting.popleft() for _ in range(count)]
            self._accept(jobs)

    def _accept(self, waiting: list[tuple[Job, Future[None]]]) -> None:
        # a request that went away before its turn (its answer cancelled) is not accepted;
        # once running, its answer can no longer be cancelled, and the job is done whole
        waiting = [
            (job, answer) for job, answer in waiting if answer.set_running_or_notify_cancel()
        ]
        if not waiting:
            return
        try:
            _record(self.resources, [job for job, _ in waiting])
            recorded = True
        except Exception:  # one at a time: the row at fault, or the outage, in each answer
            recorded = False
        for job, answer in waiting:
            _answer(answer, _keep_and_queue if recorded else accept, self.resources, job)


def _answer(
    answer: Future[None], fn: Callable[[Resources, Job], None], resources: Resources, job: Job
) -> None:
    """`fn(resources, job)`'s outcome in `answer`."""
    try:
        fn(resources, job)
    except BaseException as exc:
        answer.set_exception(exc)
    else:
        answer.set_result(None)


def _record(resources: Resources, jobs: list[Job]) -> None:
    """The rows of `jobs`, in one transaction; the database's refusal as the API words it."""
    ids = ", ".join(job.id for job in jobs)
    try:
        with resources.database.session() as session:
            for job in jobs:
                job.record(session)
    except DataError as exc:  # the row itself: a retry would be refused again
        log.warning("the database refused job %s: %s", ids, exc.orig)
        raise InvalidParameter(
            "a field holds a value the database cannot store (a NUL character, or one too long)"
        ) from None
    except Unavailable:
        raise
    except Exception as exc:
        log.warning("cannot record job %s: %s: %s", ids, type(exc).__name__, exc)
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from None


def _keep_and_queue(resources: Resources, job: Job) -> None:
    """A recorded job's upload kept (embedded mode) and its message queued; its row and
    upload undone if either fails."""
    try:
        inbox.keep(resources.inbox_dir, job.id, job.upload)
        _put(resources, job.stream, job.message)
    except Exception:
        with resources.database.session() as session:
            job.forget(session)
        inbox.forget(resources.inbox_dir, job.id)
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
