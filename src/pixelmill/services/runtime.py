"""What the API process and the worker processes share: database, queue, heartbeats, and the
service threads they run.

The embedded default (no Redis configured) runs the captioner and the storer as threads of
the API process on in-process queues; every upload is also kept in `<data dir>/inbox` until
it is stored, so that a job accepted before a restart is queued again after it. With Redis,
`pixelmill worker ...` processes run the services, and `serve` runs them too only when
`PIXELMILL_RUN_WORKERS` says so.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter, Unavailable
from pixelmill.events.broadcast import Broadcaster, make_broadcaster
from pixelmill.execution.cpus import available_cpus
from pixelmill.imaging.ops.faces import FacesParams
from pixelmill.jobs import JobStats, make_heartbeats, make_job_stats, make_queue
from pixelmill.jobs.heartbeat import Heartbeats
from pixelmill.jobs.queue import JobQueue, Message
from pixelmill.jobs.worker import run_worker
from pixelmill.services import captions, faces
from pixelmill.storage.blobs import BlobStore, make_blob_store
from pixelmill.storage.db import Database, migrate
from pixelmill.storage.files import write_atomically
from pixelmill.storage.repository import CaptionRepository, FaceRepository

log = logging.getLogger(__name__)

SERVICES = (captions.CAPTIONER, captions.STORER, faces.SERVICE)
STREAMS = {
    captions.CAPTIONER: captions.INBOX,
    captions.STORER: captions.OUTBOX,
    faces.SERVICE: faces.INBOX,
}


@dataclass
class Runtime:
    """Database, queue and heartbeats, opened once per process, plus its service threads."""

    settings: Settings
    database: Database
    queue: JobQueue
    heartbeats: Heartbeats
    job_stats: JobStats
    broadcaster: Broadcaster
    blobs: BlobStore
    repository: CaptionRepository = field(default_factory=CaptionRepository)
    face_repository: FaceRepository = field(default_factory=FaceRepository)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    handlers: list[Callable[[Message], None]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Migrate the database and connect to everything."""
        migrate(settings.database)
        return cls(
            settings=settings,
            database=Database(settings.database),
            queue=make_queue(settings),
            heartbeats=make_heartbeats(settings),
            job_stats=make_job_stats(settings),
            broadcaster=make_broadcaster(settings),
            blobs=make_blob_store(
                settings.storage_url,
                settings.storage_path,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
            ),
        )

    @property
    def embedded(self) -> bool:
        return self.settings.redis_url is None

    @property
    def inbox_dir(self) -> Path | None:
        """Durable copies of accepted uploads, in the embedded mode only."""
        return self.settings.data_dir / "inbox" if self.embedded else None

    def start_workers(self, services: Sequence[str] = SERVICES) -> None:
        """One thread per service, each consuming its stream until `close`."""
        for service in services:
            handler = self._handler(service)
            self.handlers.append(handler)
            consumer = f"{socket.gethostname()}:{os.getpid()}:{service}"
            thread = threading.Thread(
                target=run_worker,
                name=f"pixelmill-{service}",
                args=(self.queue, STREAMS[service], service, consumer, handler),
                kwargs={
                    "stop": self.stop,
                    "max_deliveries": self.settings.max_deliveries,
                    "heartbeats": self.heartbeats,
                    "heartbeat_seconds": self.settings.heartbeat_seconds,
                    "stats": self.job_stats,
                    "batch": self.settings.worker_batch,
                },
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)
            log.info("%s started as %s", service, consumer)

    def start_requeue(self) -> None:
        """Embedded mode: `requeue_unfinished` on a thread of its own, so that a backlog
        larger than the queue's bound waits for room instead of holding up the start."""
        if self.inbox_dir is None:
            return
        thread = threading.Thread(target=self.requeue_unfinished, name="pixelmill-requeue")
        thread.daemon = True
        thread.start()
        self.threads.append(thread)

    def requeue_unfinished(self, retry_seconds: float = 0.2) -> int:
        """Embedded mode: put back on the queue every accepted job not yet stored; while the
        queue is full, wait for the workers to make room (until the runtime stops)."""
        inbox = self.inbox_dir
        if inbox is None:
            return 0
        with self.database.session() as session:
            waiting_captions = [
                (r.id, r.description, r.received_at) for r in self.repository.unfinished(session)
            ]
            waiting_faces = [
                (r.id, r.filename, r.created_at) for r in self.face_repository.unfinished(session)
            ]
        jobs: list[tuple[str, Callable[[bytes], dict[str, bytes]], Path]] = []
        for id, description, received_at in waiting_captions:
            jobs.append(
                (
                    captions.INBOX,
                    partial(
                        captions.accepted_message,
                        id,
                        description=description,
                        received_at=received_at,
                    ),
                    inbox / id,
                )
            )
        for id, filename, created_at in waiting_faces:
            jobs.append(
                (
                    faces.INBOX,
                    partial(faces.accepted_message, id, filename=filename, created_at=created_at),
                    inbox / id,
                )
            )
        count = 0
        for index, (stream, message, upload) in enumerate(jobs):
            if not upload.is_file():
                continue
            fields = message(upload.read_bytes())
            while True:
                try:
                    self.queue.put(stream, fields)
                    break
                except Unavailable as exc:  # full, or down: the workers make room
                    if self.stop.wait(retry_seconds):
                        left = len(jobs) - index
                        log.warning("stopped with up to %d jobs still to queue again", left)
                        return count
                    log.debug("waiting to queue again: %s", exc.detail)
            count += 1
        if count:
            log.info("queued again %d jobs accepted before the restart", count)
        return count

    def close(self) -> None:
        """Stop taking work, finish the messages in hand, disconnect."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        for handler in self.handlers:
            if close_handler := getattr(handler, "close", None):
                close_handler()
        self.queue.close()
        self.heartbeats.close()
        self.job_stats.close()
        self.broadcaster.close()
        close = getattr(self.blobs, "close", None)
        if close is not None:
            close()
        self.database.dispose()

    def alive(self, service: str) -> int:
        """How many consumers of `service` reported lately (0 when the queue is down)."""
        try:
            return len(self.heartbeats.alive(service))
        except Exception:
            return 0

    def accept(
        self,
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
            with self.database.session() as session:
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
        inbox = self.inbox_dir
        try:
            if inbox is not None:
                write_atomically(inbox / id, upload)
            self.put(stream, message)
        except Exception:
            with self.database.session() as session:
                forget(session)
            if inbox is not None:
                (inbox / id).unlink(missing_ok=True)
            raise

    def put(self, stream: str, fields: dict[str, bytes]) -> str:
        try:
            return self.queue.put(stream, fields)
        except Unavailable:
            raise
        except Exception as exc:  # a queue must never turn a client's request into a 500
            raise Unavailable(f"queue unavailable: {exc}") from None

    def _handler(self, service: str) -> Callable[[Message], None]:
        settings = self.settings
        if service == captions.CAPTIONER:
            return captions.Captioner(
                queue=self.queue,
                font=settings.caption_font,
                font_size=settings.caption_font_size,
                overlay=settings.caption_overlay,
                max_pixels=settings.max_pixels,
                max_deliveries=settings.max_deliveries,
                threads=settings.thread_workers or available_cpus(),
            )
        if service == captions.STORER:
            return captions.Storer(
                database=self.database,
                repository=self.repository,
                blobs=self.blobs,
                inbox_dir=self.inbox_dir,
            )
        if service == faces.SERVICE:
            return faces.FaceService(
                database=self.database,
                repository=self.face_repository,
                blobs=self.blobs,
                broadcaster=self.broadcaster,
                params=FacesParams(
                    min_size=settings.faces_min_size,
                    model=str(settings.faces_model) if settings.faces_model else None,
                ),
                max_pixels=settings.max_pixels,
                max_deliveries=settings.max_deliveries,
                inbox_dir=self.inbox_dir,
            )
        raise ValueError(f"unknown service {service!r} (known: {', '.join(SERVICES)})")
