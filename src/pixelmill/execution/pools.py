"""The worker pools: one process pool for per-image work, a thread pool in each worker process
for bands of one image, and a thread pool in the API process for encoding and file I/O.

All three are created once, at start-up, and shut down with the service. A worker process
that dies (killed, out of memory) breaks the process pool; the pool is then replaced, the
requests that were in it get a 503, and the next ones are served again.

Back-pressure: a request takes a place with `admit()` before it reads its uploads. There are
`max_in_flight` places; past them the answer is at once a 429 (`Busy`), so the executors'
queues never hold more than the admitted requests' work. Each admitted request also has a
deadline: when its work takes longer than `timeout` seconds, its jobs that have not started
are dropped and it gets a 503.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pixelmill.errors import Busy, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Set in each worker process by `_init_worker`: that process's segment-band threads.
_band_threads: ThreadPoolExecutor | None = None
_band_count = 1


def band_threads() -> tuple[int, Executor | None]:
    """How many band threads this worker process has, and their pool (None outside one)."""
    return _band_count, _band_threads


class Pools:
    """Process pool + per-process thread pools + the API process's own thread pool."""

    def __init__(
        self,
        processes: int,
        threads: int,
        start_method: str = "forkserver",
        *,
        max_in_flight: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """`start_method`: "forkserver" in servers (safe beside threads); a single-threaded
        command may use "fork", which skips re-importing the engine in a fresh interpreter.
        `max_in_flight`: requests admitted at once (default: 16 per process, at least 32);
        `timeout`: seconds an admitted request's work may take (None: no limit)."""
        self.processes = processes
        self.threads = threads
        self.max_in_flight = max_in_flight or max(32, 16 * processes)
        self.timeout = timeout
        self.in_flight = 0  # changed on the event loop only
        self.refused = 0
        self.timeouts = 0
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._local: ThreadPoolExecutor | None = None
        self._bands: ThreadPoolExecutor | None = None
        self.restarts = 0

    def start(self) -> None:
        """Start the pools and wait until every worker process is up."""
        if self._context.get_start_method() == "forkserver":
            self._context.set_forkserver_preload(["pixelmill.execution.tasks"])
        self._local = ThreadPoolExecutor(self.processes, thread_name_prefix="pixelmill-local")
        self._bands = ThreadPoolExecutor(self.threads, thread_name_prefix="pixelmill-bands")
        self._executor = self._new_executor()
        self._warm_up()
        log.info("pools ready: %d processes × %d threads", self.processes, self.threads)

    def shutdown(self) -> None:
        """Finish the work in hand, then stop every pool."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for pool in (self._local, self._bands):
            if pool is not None:
                pool.shutdown(wait=True)
        self._local = self._bands = None

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """A place for one request's work, under its deadline; `Busy` when none is free."""
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            raise Busy(
                f"busy: {self.in_flight} requests are being processed, the most this server "
                "takes at once; retry in a moment"
            )
        self.in_flight += 1
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            self.timeouts += 1
            raise Unavailable(
                f"the work took longer than the processing limit of {self.timeout:g} s and "
                "was stopped; a smaller image or a shorter chain takes less"
            ) from None
        finally:
            self.in_flight -= 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a worker process."""
        executor = self._require()
        try:
            future = executor.submit(fn, *args)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            raise Unavailable(
                "a worker process died while handling this request; please retry"
            ) from None

    async def run_local(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a thread of the API process (CPU work off the event loop)."""
        if self._local is None:
            raise Unavailable("the service is not running")
        return await asyncio.get_running_loop().run_in_executor(self._local, fn, *args)

    def band_map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """Map over the API process's band threads (pieces of one job, e.g. PNG deflate).

        Jobs on `run_local` threads may wait on these; band work itself never waits, so the
        two pools cannot deadlock each other.
        """
        if self._bands is None:
            return map(fn, items)
        return self._bands.map(fn, items)

    async def ping(self, timeout: float = 5.0) -> str:
        """'ok' when a worker answers, 'busy' when none could in time, 'down' when broken."""
        try:
            executor = self._require()
            await asyncio.wait_for(asyncio.wrap_future(executor.submit(os.getpid)), timeout)
        except TimeoutError:
            return "busy"
        except BrokenProcessPool:
            self._replace(executor)
            return "down"
        except Unavailable:
            return "down"
        return "ok"

    def _require(self) -> ProcessPoolExecutor:
        executor = self._executor
        if executor is None:
            raise Unavailable("the worker pool is not running")
        return executor

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is not broken:
                return  # another request replaced it already
            log.error("a worker process died; starting a new process pool")
            self._executor = self._new_executor()
            self.restarts += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def _warm_up(self) -> None:
        # Workers start on demand; keep each busy a moment so that all of them start now
        # and the first requests do not pay for process start-up and imports.
        executor = self._require()
        futures = [executor.submit(_settle, 0.05) for _ in range(self.processes)]
        for future in futures:
            future.result(timeout=120)


def _init_worker(threads: int) -> None:
    global _band_threads, _band_count
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    import cv2

    from pixelmill.execution.memory import keep_freed_buffers

    keep_freed_buffers()

    cv2.setNumThreads(1)  # parallelism comes from our bands, not from OpenCV's own threads
    _band_threads = ThreadPoolExecutor(threads, thread_name_prefix="pixelmill-band")
    _band_count = threads


def _settle(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()
