"""A process's runtime: its resources (`resources.py`) and the service threads it runs.

The embedded default (no Redis configured) runs every service as a thread of the API process
on in-process queues; every upload is also kept in `<data dir>/inbox` until it is stored, and
`start_requeue` queues again the jobs accepted before a restart; its uploads (captions, faces) are
accepted by one `Recorder` thread, the rows of all those waiting in one transaction. The
service threads only take, hand over and write: their pixel work runs on the API's pools
(`start_workers(pools=)`), in worker processes by default, so it does not take turns at one
GIL with the event loop.
With Redis, `pixelmill worker ...` processes run the services, and `serve` runs them too only
when `PIXELMILL_RUN_WORKERS` says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pixelmill.jobs.worker import Handler, run_worker
from pixelmill.services.accept import Job, Recorder, accept, requeue_unfinished
from pixelmill.services.registry import SERVICES, Service
from pixelmill.services.resources import Resources

if TYPE_CHECKING:
    from pixelmill.execution.pools import Pools

log = logging.getLogger(__name__)


@dataclass
class Runtime(Resources):
    """The process's resources, plus its service threads; `close` stops them first."""

    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)
    # embedded mode: the uploads' rows recorded together (`accept.Recorder`); None with Redis,
    # whose durable puts are each request's own
    recorder: Recorder | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.embedded:
            self.recorder = Recorder(self)

    async def accept(self, job: Job) -> None:
        """`accept.accept` for a request, off the event loop: in embedded mode by the
        `Recorder`, with the other uploads waiting (give it rows added without a flush);
        with Redis on a thread of its own."""
        if self.recorder is not None:
            await asyncio.wrap_future(self.recorder.submit(job))
        else:
            await asyncio.to_thread(accept, self, job)

    def start_workers(
        self, services: Sequence[Service] = SERVICES, *, pools: Pools | None = None
    ) -> None:
        """Threads consuming each service's stream until `close`: one per service; with
        `pools` (the API's, already started and shut down after `close`), the pixel work
        runs there, and a service with pixel work gets `Service.pool_consumers` threads."""
        self.pools = pools
        for service in services:
            handler = service.handler(self)
            self.handlers.append(handler)
            consumers = service.pool_consumers if pools is not None else 1
            for index in range(consumers):
                self._start_consumer(service, handler, f":{index}" if index else "")

    def _start_consumer(self, service: Service, handler: Handler, suffix: str) -> None:
        consumer = f"{socket.gethostname()}:{os.getpid()}:{service.name}{suffix}"
        thread = threading.Thread(
            target=run_worker,
            name=f"pixelmill-{service.name}{suffix}",
            args=(self.queue, service.stream, service.name, consumer, handler),
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
        log.info("%s started as %s", service.name, consumer)

    def start_requeue(self) -> None:
        """Embedded mode: `requeue_unfinished` on a thread of its own, so that a backlog
        larger than the queue's bound waits for room instead of holding up the start."""
        if self.inbox_dir is None:
            return
        thread = threading.Thread(
            target=requeue_unfinished, args=(self, self.stop), name="pixelmill-requeue"
        )
        thread.daemon = True
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        """Stop taking work, finish the messages in hand, disconnect."""
        if self.recorder is not None:  # the uploads already answered for, accepted first
            self.recorder.close()
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        for handler in self.handlers:
            if close_handler := getattr(handler, "close", None):
                close_handler()
        super().close()
