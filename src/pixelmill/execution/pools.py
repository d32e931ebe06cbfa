"""The worker pools: where per-image work runs (`run`), a thread pool for bands of one image,
and a thread pool in the API process for encoding and file I/O (`run_local`).

Where `run` puts the work is the execution design (`PIXELMILL_EXECUTION`, docs/performance.md):

* "processes": a process pool (through a forkserver), band threads in each worker process.
  A native crash costs only the requests its worker held.
* "threads": threads in the API process (OpenCV, libjpeg and zlib let go of the GIL), band
  threads beside them. No worker process: the least memory and the shortest start, but a
  native crash takes the server down.
* "hybrid": threads for the work the caller marks as safe (`isolate=False`: a plain JPEG,
  PNG or WebP after its header checks, decoded by OpenCV), and a small process pool for
  everything else (`isolate=True`, the default: HEIC, AVIF, TIFF, GIF, animations, whatever
  Pillow's or libheif's native decoders read).

All of them are created once, at start-up, and shut down with the service. A worker process
that dies (killed, out of memory, a segfault in a decoder) breaks the process pool; the pool
is then replaced, the requests that were in it get a 503, and the next ones are served again.

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
On threads, the job's thread reads the same two arrays.

Retained memory: glibc keeps freed buffers for speed (`memory.keep_freed_buffers`), so a
process stays at its high-water mark after one big collage. Each process that does pixel work
gives its free memory back once it has been idle for `trim_seconds` (`memory.IdleTrim`), and
caps its malloc arenas at `arenas` (one per thread that may allocate at once, by default).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import math
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal, TypeVar, get_args

from pixelmill.errors import Busy, Stopped, Unavailable
from pixelmill.execution.memory import IdleTrim, cap_arenas, keep_freed_buffers

log = logging.getLogger(__name__)
T = TypeVar("T")

Execution = Literal["processes", "threads", "hybrid"]
EXECUTIONS: tuple[str, ...] = get_args(Execution)

# Set in each worker process by `_init_worker`: that process's segment-band threads, the
# shared tokens and deadlines of the admitted requests' slots, and its idle trim.
_band_threads: ThreadPoolExecutor | None = None
_band_count = 1
_tokens: Any = None
_deadlines: Any = None
_trim: IdleTrim | None = None
# The job in hand on this thread (a worker process's, or one of the API process's job
# threads): `job.work` = (tokens, deadlines, slot, token), `job.bands` = (count, executor)
# on a job thread of the API process.
_job = threading.local()
# In the API process: the slot of the request whose task this is.
_admitted: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "pixelmill_admitted", default=None
)
# What the forkserver imports once for every worker process: the jobs' modules, so that no
# worker imports them at its first job (unpickling `pipeline.transform` imports the engine),
# and the module that makes it and its workers ignore SIGTERM (the server's to handle).
PRELOAD = [
    "pixelmill.execution.forkserver_signals",
    "pixelmill.execution.tasks",
    "pixelmill.execution.pipeline",
]
# How often a request's task looks whether its client is still there.
DISCONNECT_POLL_SECONDS = 0.25


def band_threads() -> tuple[int, Executor | None]:
    """How many band threads the job in hand may use, and their pool (None outside a job)."""
    bands: tuple[int, Executor] | None = getattr(_job, "bands", None)
    if bands is not None:
        return bands
    return _band_count, _band_threads


def still_wanted() -> bool:
    """Whether the job in hand is still wanted (a job submitted outside `admit`, such as the
    CLI's, always is)."""
    work = getattr(_job, "work", None)
    if work is None:
        return True
    tokens, deadlines, slot, token = work
    return bool(tokens[slot] == token and time.monotonic() < deadlines[slot])


def start_forkserver(execution: Execution) -> None:
    """Start the forkserver (and its imports, `PRELOAD`) now, in a process of its own, so that
    it loads while the API process imports the rest: called first thing by `pixelmill serve`
    (`Pools.start` would start it otherwise, once the API process is done importing)."""
    if execution == "threads":
        return
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


class Pools:
    """Where per-image work runs (processes, threads or both: `execution`), band threads, and
    the API process's own thread pool."""

    def __init__(
        self,
        processes: int,
        threads: int,
        start_method: str = "forkserver",
        *,
        max_in_flight: int | None = None,
        timeout: float | None = None,
        execution: Execution = "processes",
        isolated: int = 1,
        trim_seconds: float | None = None,
        arenas: int | None = None,
    ) -> None:
        """`processes`: jobs run at once (worker processes, or job threads on threads);
        `threads`: band threads per job runner. `start_method`: "forkserver" in servers (safe
        beside threads); a single-threaded command may use "fork", which skips re-importing
        the engine in a fresh interpreter. `max_in_flight`: requests admitted at once
        (default: 16 per process, at least 32); `timeout`: seconds an admitted request's work
        may take (None: no limit). `execution`: the design (module docstring); `isolated`:
        worker processes of "hybrid". `trim_seconds`: idle seconds after which a process
        gives its free memory back (None: never); `arenas`: glibc malloc arenas per process
        (None: glibc's default, 8 per CPU)."""
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {', '.join(EXECUTIONS)}: {execution!r}")
        self.execution = execution
        self.processes = processes
        self.threads = threads
        # worker processes: none on threads, the small isolated pool in hybrid
        self.worker_processes = {"processes": processes, "threads": 0, "hybrid": isolated}[
            execution
        ]
        self.max_in_flight = max_in_flight or max(32, 16 * processes)
        self.timeout = timeout
        self.trim_seconds = trim_seconds
        self.arenas = arenas
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
        self._jobs: ThreadPoolExecutor | None = None  # job threads: "threads" and "hybrid"
        self._local: ThreadPoolExecutor | None = None
        self._bands: ThreadPoolExecutor | None = None
        self._trim: IdleTrim | None = None
        self._processes_used = False  # a job went to a worker process (hybrid starts them late)
        self.restarts = 0

    def start(self) -> None:
        """Start the pools, warm every runner up (imports, codecs' first use) and wait until
        each is ready, so that the first request pays for none of it."""
        self._local = ThreadPoolExecutor(self.processes, thread_name_prefix="pixelmill-local")
        self._bands = ThreadPoolExecutor(self.threads, thread_name_prefix="pixelmill-bands")
        if self.trim_seconds is not None:
            self._trim = IdleTrim(self.trim_seconds)
        warming: list[Future[Any]] = []
        if self.execution != "processes":
            self._jobs = ThreadPoolExecutor(self.processes, thread_name_prefix="pixelmill-job")
            together = threading.Barrier(self.processes)
            warming += [
                self._jobs.submit(_warm_up_job_thread, together) for _ in range(self.processes)
            ]
        if self.worker_processes:
            forkserver = self._context.get_start_method() == "forkserver"
            if forkserver:
                self._context.set_forkserver_preload(PRELOAD)
            self._executor = self._new_executor()
            if self.execution == "processes":
                # Workers start on demand; keep each busy a moment so that all start now.
                warming += [
                    self._executor.submit(_warm_up_worker, 0.05)
                    for _ in range(self.worker_processes)
                ]
            elif forkserver:
                # hybrid: the isolated workers start with the first job that needs one (most
                # deployments never send one, and each costs ~30 MiB); a fork of the
                # preloaded forkserver, started now, is quick.
                from multiprocessing import forkserver as forkserver_module

                forkserver_module.ensure_running()
        for pool, count in ((self._jobs, self.processes), (self._local, self.processes)):
            if pool is not None:  # every thread now: the first requests do not start them
                warming += [pool.submit(time.sleep, 0.02) for _ in range(count)]
        warming += [self._bands.submit(time.sleep, 0.02) for _ in range(self.threads)]
        for future in warming:
            future.result(timeout=120)
        log.info(
            "pools ready (%s): %d job runners × %d band threads, %d worker processes",
            self.execution,
            self.processes,
            self.threads,
            self.worker_processes,
        )

    def shutdown(self) -> None:
        """Finish the work in hand, then stop every pool."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for pool in (self._jobs, self._local, self._bands):
            if pool is not None:
                pool.shutdown(wait=True)
        self._jobs = self._local = self._bands = None
        if self._trim is not None:
            self._trim.close()
            self._trim = None

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
        # the client is first asked after one poll interval: most requests are done by then,
        # and asking (Starlette's is_disconnected) costs more than a timer
        watching: list[asyncio.Task[None]] = []
        timer = (
            asyncio.get_running_loop().call_later(
                DISCONNECT_POLL_SECONDS,
                lambda: watching.append(asyncio.create_task(self._watch(disconnected, slot))),
            )
            if disconnected
            else None
        )
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
            if timer is not None:
                timer.cancel()
            for watcher in watching:
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

    def runs_in_process(self, isolate: bool = True) -> bool:
        """Whether `run(..., isolate=isolate)` goes to a worker process."""
        return self.execution == "processes" or (self.execution == "hybrid" and isolate)

    async def run(self, fn: Callable[..., T], *args: Any, isolate: bool = True) -> T:
        """Run `fn(*args)` as one job (under the deadline of the admitted request this task
        serves, if any): in a worker process, or on a job thread of the API process, as the
        execution design says. `isolate=False` marks work that is safe beside the server
        (bounded, pre-checked, OpenCV's decoders only): "hybrid" runs it on a thread."""
        if not self.runs_in_process(isolate):
            return await self._run_on_thread(fn, *args)
        executor = self._require()
        self._processes_used = True
        try:
            future = executor.submit(_with_work, _admitted.get(), fn, *args)
            future.add_done_callback(self._count_stopped)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            raise Unavailable(
                "a worker process died while handling this request; please retry"
            ) from None

    async def _run_on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        jobs, bands = self._jobs, self._bands
        if jobs is None or bands is None:
            raise Unavailable("the service is not running")
        admitted = _admitted.get()
        work = None if admitted is None else (self._tokens, self._deadlines, *admitted)
        future = jobs.submit(_on_job_thread, work, (self.threads, bands), self._trim, fn, *args)
        future.add_done_callback(self._count_stopped)
        return await asyncio.wrap_future(future)

    def _count_stopped(self, future: Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), Stopped):
            self.stopped += 1

    async def run_local(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on a thread of the API process (CPU work off the event loop)."""
        if self._local is None:
            raise Unavailable("the service is not running")
        return await asyncio.get_running_loop().run_in_executor(
            self._local, _on_local_thread, self._trim, fn, *args
        )

    def band_map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """Map over the API process's band threads (pieces of one job, e.g. PNG deflate).

        Jobs on `run_local` threads may wait on these; band work itself never waits, so the
        two pools cannot deadlock each other.
        """
        if self._bands is None:
            return map(fn, items)
        return self._bands.map(fn, items)

    async def ping(self, timeout: float = 5.0) -> str:
        """'ok' when a job runner answers (a worker process, if there are any), 'busy' when
        none could in time, 'down' when broken."""
        try:
            if self.worker_processes and (self._processes_used or self._jobs is None):
                executor = self._require()
                future = executor.submit(os.getpid)
            elif self._jobs is not None:
                future = self._jobs.submit(os.getpid)
            else:
                return "down"
            await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            return "busy"
        except BrokenProcessPool:
            self._replace(executor)
            return "down"
        except (Unavailable, RuntimeError):  # RuntimeError: submitted after shutdown
            return "down"
        return "ok"

    def _require(self) -> ProcessPoolExecutor:
        executor = self._executor
        if executor is None:
            raise Unavailable("the worker pool is not running")
        return executor

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.worker_processes,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(
                *(self.threads, self._tokens, self._deadlines, self.trim_seconds, self.arenas),
                os.getpid(),
            ),
        )

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is not broken:
                return  # another request replaced it already
            log.error("a worker process died; starting a new process pool")
            self._executor = self._new_executor()
            self.restarts += 1
        # Its other workers ignore the SIGTERM concurrent.futures ends a broken pool with
        # (forkserver_signals), and one still busy would keep that pool's thread waiting on
        # it: they are killed (their requests were answered 503 with the crashed one's).
        processes = list((getattr(broken, "_processes", None) or {}).values())
        broken.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with suppress(OSError, ValueError):  # ended already
                process.kill()


def _init_worker(
    threads: int,
    tokens: Any,
    deadlines: Any,
    trim_seconds: float | None,
    arenas: int | None,
    server: int,
) -> None:
    global _band_threads, _band_count, _tokens, _deadlines, _trim
    _tokens, _deadlines = tokens, deadlines
    # Ctrl+C and a SIGTERM sent to the whole group are the server's to handle: it finishes
    # the jobs in hand, then shuts the pool down (forkserver_signals)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _end_with(server)
    import cv2

    keep_freed_buffers()
    if arenas is not None:
        cap_arenas(arenas)
    if trim_seconds is not None:
        _trim = IdleTrim(trim_seconds)

    cv2.setNumThreads(1)  # parallelism comes from our bands, not from OpenCV's own threads
    _band_threads = ThreadPoolExecutor(threads, thread_name_prefix="pixelmill-band")
    _band_count = threads


def _end_with(server: int) -> None:
    """End this worker process when the process that owns the pool ends, however it ends (a
    kill -9 too): a worker waits for jobs forever otherwise, and the forkserver stays while
    any worker does. Linux's pidfd says when; elsewhere nothing is watched."""
    try:
        ended = os.pidfd_open(server)
    except (AttributeError, OSError):  # not Linux 5.3+, or the server is gone already
        with suppress(OSError):
            os.kill(server, 0)
            return
        os._exit(1)

    def watch() -> None:
        select.select([ended], [], [])  # readable once the server has ended
        os._exit(1)

    threading.Thread(target=watch, name="pixelmill-server-watch", daemon=True).start()


def _with_work(work: tuple[int, int] | None, fn: Callable[..., T], *args: Any) -> T:
    """In a worker process: `fn(*args)` as the job in hand."""
    _job.work = None if work is None else (_tokens, _deadlines, *work)
    if _trim is not None:
        _trim.begin()
    try:
        return fn(*args)
    finally:
        _job.work = None
        if _trim is not None:
            _trim.end()


def _on_job_thread(
    work: tuple[Any, Any, int, int] | None,
    bands: tuple[int, Executor],
    trim: IdleTrim | None,
    fn: Callable[..., T],
    *args: Any,
) -> T:
    """On a job thread of the API process: `fn(*args)` as the job in hand."""
    _job.work, _job.bands = work, bands
    if trim is not None:
        trim.begin()
    try:
        return fn(*args)
    finally:
        _job.work = _job.bands = None
        if trim is not None:
            trim.end()


def _on_local_thread(trim: IdleTrim | None, fn: Callable[..., T], *args: Any) -> T:
    if trim is None:
        return fn(*args)
    trim.begin()
    try:
        return fn(*args)
    finally:
        trim.end()


def _warm_up_worker(seconds: float) -> int:
    """Held a moment, so that every worker process starts now; warmed like a job thread."""
    _warm_up_in_process()
    time.sleep(seconds)
    return os.getpid()


def _warm_up_job_thread(together: threading.Barrier) -> None:
    """Warm this job thread up (a thread's first decode and encode set up OpenCV's and
    libjpeg's state for that thread: ~0.7 ms of the first request it took), then wait for
    the others, so that no thread takes two warm-ups and leaves another cold (they are let go
    when a warm-up fails too: its error is the start's)."""
    try:
        _warm_up_in_process()
    finally:
        together.wait(timeout=60)


def _warm_up_in_process() -> None:
    # The first use of each codec loads its plugins and tables (Pillow's plugin registry,
    # libjpeg's, libpng's); done here, before the service reports healthy.
    import cv2

    from pixelmill.execution.warm import warm_up

    if multiprocessing.parent_process() is None:
        cv2.setNumThreads(1)  # job threads in the API process: our parallelism, not OpenCV's
    warm_up()
