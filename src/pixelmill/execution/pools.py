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

The deadline also travels into the worker processes. Each admitted request holds a slot of
two arrays in shared memory (a token and a deadline on the system's monotonic clock); a job
submitted under it carries (slot, token), and a chain asks `still_wanted()` between two
steps. The answer is no once the deadline has passed, once the client has gone
(`abandon`), or once the request has left `admit` (its slot is freed: the token no longer
matches), so abandoned work stops at the next step instead of holding a CPU to the end.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from pixelmill.errors import Busy, Stopped, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Set in each worker process by `_init_worker`: that process's segment-band threads, and the
# shared tokens and deadlines of the admitted requests' slots.
_band_threads: ThreadPoolExecutor | None = None
_band_count = 1
_tokens: Any = None
_deadlines: Any = None
# In a worker process: the (slot, token) of the job in hand. In the API process: the slot of
# the request whose task this is.
_work: tuple[int, int] | None = None
_admitted: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "pixelmill_admitted", default=None
)
# How often a request's task looks whether its client is still there.
DISCONNECT_POLL_SECONDS = 0.25


def band_threads() -> tuple[int, Executor | None]:
    """How many band threads this worker process has, and their pool (None outside one)."""
    return _band_count, _band_threads


def still_wanted() -> bool:
    """In a worker process: whether the job in hand is still wanted (a job submitted outside
    `admit`, such as the CLI's, always is)."""
    if _work is None or _tokens is None:
        return True
    slot, token = _work
    return bool(_tokens[slot] == token and time.monotonic() < _deadlines[slot])


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
        self.stopped = 0  # jobs a worker stopped between steps: unwanted
        self._context = multiprocessing.get_context(start_method)
        # one slot per admitted request: its token (0: free) and its deadline
        self._tokens = self._context.RawArray("q", self.max_in_flight)
        self._deadlines = self._context.RawArray("d", self.max_in_flight)
        self._free_slots = list(range(self.max_in_flight))
        self._next_token = itertools.count(1)
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
    async def admit(
        self, disconnected: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[None]:
        """A place for one request's work, under its deadline; `Busy` when none is free.

        `disconnected` (a request's `is_disconnected`) is polled while the work runs; once it
        says the client has gone, the request's jobs stop at their next step.
        """
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            raise Busy(
                f"busy: {self.in_flight} requests are being processed, the most this server "
                "takes at once; retry in a moment"
            )
        self.in_flight += 1
        slot, token = self._free_slots.pop(), next(self._next_token)
        self._deadlines[slot] = (
            math.inf if self.timeout is None else time.monotonic() + self.timeout
        )
        self._tokens[slot] = token
        admitted = _admitted.set((slot, token))
        watcher = asyncio.create_task(self._watch(disconnected, slot)) if disconnected else None
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
            if watcher is not None:
                watcher.cancel()
            with suppress(ValueError):  # a generator closed by the loop, in another context
                _admitted.reset(admitted)
            self._tokens[slot] = 0  # the request's jobs still running see they are unwanted
            self._free_slots.append(slot)
            self.in_flight -= 1

    async def _watch(self, disconnected: Callable[[], Awaitable[bool]], slot: int) -> None:
        while not await disconnected():
            await asyncio.sleep(DISCONNECT_POLL_SECONDS)
        log.info("client gone: its work stops at the next step")
        self._deadlines[slot] = 0.0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a worker process (under the deadline of the admitted request
        this task serves, if any)."""
        executor = self._require()
        try:
            future = executor.submit(_with_work, _admitted.get(), fn, *args)
            future.add_done_callback(self._count_stopped)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            raise Unavailable(
                "a worker process died while handling this request; please retry"
            ) from None

    def _count_stopped(self, future: Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), Stopped):
            self.stopped += 1

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
            initargs=(self.threads, self._tokens, self._deadlines),
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


def _init_worker(threads: int, tokens: Any, deadlines: Any) -> None:
    global _band_threads, _band_count, _tokens, _deadlines
    _tokens, _deadlines = tokens, deadlines
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    import cv2

    from pixelmill.execution.memory import keep_freed_buffers

    keep_freed_buffers()

    cv2.setNumThreads(1)  # parallelism comes from our bands, not from OpenCV's own threads
    _band_threads = ThreadPoolExecutor(threads, thread_name_prefix="pixelmill-band")
    _band_count = threads


def _with_work(work: tuple[int, int] | None, fn: Callable[..., T], *args: Any) -> T:
    global _work
    _work = work
    try:
        return fn(*args)
    finally:
        _work = None


def _settle(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()
