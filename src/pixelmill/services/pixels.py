"""The services' pixel work, as plain functions of bytes, and where a batch of it runs.

    caption_jpeg(data, ...)        the captioner's work: sniff, decode, caption, JPEG encode
    box_faces(data, info, ...)     the faces service's: decode, detect, draw, encode

    PixelWork.map(fn, jobs, isolate)
      with the API's pools    `pixelmill serve` running the services itself (the embedded
                              default): `Pools.run`, in worker processes by default, so the
                              pixel work does not take turns at one GIL with the event loop,
                              the storer and the accept path; on "hybrid" execution, a job
                              not marked `isolate` runs on a job thread: a face search in a
                              plain JPEG, PNG or WebP (`execution.pipeline.isolated`), whose
                              OpenCV work lets go of the GIL, but never a caption, whose
                              text layout holds it for about half its time; a batch goes as
                              one `Pools.run` job per runner (`_chunks`), not one per image
      without                 a `pixelmill worker` process: threads of its own (OpenCV and
                              Pillow let go of the GIL while they decode, draw and encode)

The functions import only `pixelmill.imaging`, so a worker process that runs them loads no
web, database or queue code; their arguments and results are bytes, numbers, strings and the
operations' parameter models, which pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pixelmill.errors import Stopped, Unavailable
from pixelmill.imaging import codec
from pixelmill.imaging.ops import output
from pixelmill.imaging.ops.caption import CaptionParams, caption
from pixelmill.imaging.ops.faces import Face, FacesParams, detect, draw

if TYPE_CHECKING:
    from pixelmill.execution.pools import Pools

T = TypeVar("T")
# Captions are stored, and served, as JPEG (the seed's format), through the one output policy.
CAPTION_OUTPUT = output.choose(output.OutputOptions(), format="jpeg", asked_by="captions")


@dataclass(frozen=True, slots=True)
class Captioned:
    """A captioned JPEG, its size and how long the work took."""

    jpeg: bytes
    width: int
    height: int
    processing_ms: float


@dataclass(frozen=True, slots=True)
class Boxed:
    """An image with its faces boxed, encoded, and what was found."""

    encoded: bytes
    extension: str  # ".jpg", ".png", ...
    media_type: str
    faces: list[dict[str, float | int | None]]
    width: int
    height: int
    processing_ms: float


def caption_jpeg(data: bytes, params: CaptionParams, max_pixels: int, name: str) -> Captioned:
    """The description in a black band under the image, as a JPEG."""
    started = time.perf_counter()
    info = codec.sniff(data, max_pixels=max_pixels, name=name)
    image = codec.decode(data, info, "color", name)
    result = caption(image, params)
    jpeg = codec.encode(result, CAPTION_OUTPUT.format.name, quality=CAPTION_OUTPUT.quality)
    height, width = result.shape[:2]
    return Captioned(jpeg, width, height, (time.perf_counter() - started) * 1000)


def box_faces(data: bytes, info: codec.ImageInfo, params: FacesParams, name: str) -> Boxed:
    """A box around each face of the image (its header read: `info`), encoded in the input's
    format when pixelmill writes it, else PNG."""
    started = time.perf_counter()
    image = codec.decode(data, info, "color", name)
    found = detect(image, params)
    boxed = draw(image, found, params)
    out = output.choose(output.OutputOptions(), input=info)
    encoded = codec.encode(boxed, out.format.name, quality=out.quality)
    height, width = boxed.shape[:2]
    return Boxed(
        encoded,
        out.format.extension,
        out.format.media_type,
        [_box(face) for face in found],
        width,
        height,
        (time.perf_counter() - started) * 1000,
    )


class WorkerDied(RuntimeError):
    """A job's worker process died under it (a crash in a native decoder, a kill). Unlike an
    outage, this counts against the message: a batch that fails so is handled again one
    message at a time, and an image that kills its worker every time ends as a dead letter
    instead of being retried for ever."""


class PixelWork:
    """Runs a batch's pixel work: on the API's pools when given, else on `threads` threads of
    this process (created on first use, named after `name`)."""

    def __init__(self, pools: Pools | None, threads: int, name: str) -> None:
        self.pools = pools
        self.threads = threads
        self._name = name
        self._threads: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # one event loop per calling thread (a service's worker thread), to await the pools
        self._loops = threading.local()
        self._runners: list[asyncio.Runner] = []

    def map(
        self, fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], isolate: Sequence[bool]
    ) -> list[T]:
        """`fn(*job)` for every job, results in order; the first failure is raised once every
        job has finished (none is left running behind the caller's back). `isolate`: per job,
        whether its decoding should be kept apart from the server (`Pools.run`)."""
        if self.pools is not None:
            return self._on_pools(fn, jobs, isolate)
        if self.threads <= 1 or len(jobs) <= 1:
            return [fn(*job) for job in jobs]
        return list(self._own_threads().map(lambda job: fn(*job), jobs))

    def close(self) -> None:
        """Let the threads and event loops go (after the worker loops have stopped)."""
        with self._lock:
            pool, self._threads = self._threads, None
        if pool is not None:
            pool.shutdown()
        with self._lock:
            runners, self._runners = self._runners, []
        for runner in runners:
            # a service thread still in its batch (its join timed out) keeps its loop
            with contextlib.suppress(RuntimeError):
                runner.close()

    def _own_threads(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.threads, thread_name_prefix=self._name)
            return self._threads

    def _on_pools(
        self, fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], isolate: Sequence[bool]
    ) -> list[T]:
        pools = self.pools
        assert pools is not None

        async def every() -> list[T | BaseException]:
            # a pool job per runner, not per image: each job is a future, a pickling, a
            # wake-up of the pool's threads and of this loop, all at the API's one GIL
            chunks = _chunks(jobs, isolate, pools)
            runs = (pools.run(_each, fn, chunk, isolate=apart) for chunk, apart, _ in chunks)
            done = await asyncio.gather(*runs, return_exceptions=True)
            results: list[T | BaseException] = [None] * len(jobs)  # type: ignore[list-item]
            for (_, _, places), outcome in zip(chunks, done, strict=True):
                for index, place in enumerate(places):
                    if isinstance(outcome, BaseException):
                        results[place] = outcome  # the chunk's runner died, or stopped
                    else:
                        results[place] = outcome[index]
            return results

        runner: asyncio.Runner | None = getattr(self._loops, "runner", None)
        if runner is None:
            runner = self._loops.runner = asyncio.Runner()
            with self._lock:
                self._runners.append(runner)
        results = runner.run(every())
        for result in results:
            # on the pools, a job's Unavailable (other than a deadline's) is its worker dying
            if isinstance(result, Unavailable) and not isinstance(result, Stopped):
                raise WorkerDied(result.detail) from result
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]


def _chunks(
    jobs: Sequence[tuple[Any, ...]], isolate: Sequence[bool], pools: Pools
) -> list[tuple[list[tuple[Any, ...]], bool, list[int]]]:
    """The jobs in as many chunks as the pools have runners for them (round robin, so that
    the runners finish together), each as (jobs, isolate, their places in `jobs`)."""
    chunks = []
    for apart in (True, False):
        places = [place for place, flag in enumerate(isolate) if flag is apart]
        runners = pools.worker_processes if pools.runs_in_process(apart) else pools.processes
        count = max(1, min(runners, len(places)))
        for start in range(min(count, len(places))):
            mine = places[start::count]
            chunks.append(([jobs[place] for place in mine], apart, mine))
    return chunks


def _each(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]]) -> list[T | Exception]:
    """`fn(*job)` for every job of a chunk, in a pool's runner: each one's result, or what
    it raised."""
    results: list[T | Exception] = []
    for job in jobs:
        try:
            results.append(fn(*job))
        except Exception as exc:
            results.append(exc)
    return results


def _box(face: Face) -> dict[str, float | int | None]:
    """A face as plain JSON numbers (OpenCV hands out numpy ones)."""
    score = None if face.score is None else float(face.score)
    return {
        "x": int(face.x),
        "y": int(face.y),
        "width": int(face.width),
        "height": int(face.height),
        "score": score,
    }
