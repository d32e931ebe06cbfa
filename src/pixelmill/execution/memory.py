"""Keep freed image buffers for reuse instead of handing them back to the kernel.

Every message and request allocates and frees buffers of the image's size (the decoded
pixels, the result, the encoded bytes). With glibc's defaults a buffer that large is an
mmap of its own, or lands in a heap that is trimmed as soon as it is freed, so the next one
page-faults all of its pages in again: for a 640×480 caption, ~650 faults and 1.5–2 ms of
CPU a message, a third of the captioner's time. Raising the mmap and trim thresholds keeps
the freed memory in the process for the next buffer (the process then stays at the size of
its largest working set, up to `TRIM_THRESHOLD` more). `IdleTrim` bounds that: a process
that has been idle a moment gives its free memory back, and `cap_arenas` bounds how many
arenas hold such memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger(__name__)

# mallopt's parameter numbers, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest (HEAP_MAX / 2 on 64-bit)
TRIM_THRESHOLD = 128 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    done: bool = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    done = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if not done:
        log.debug("mallopt refused the thresholds; buffers go back to the kernel")
    return done


_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    return libc


def cap_arenas(count: int) -> bool:
    """At most `count` malloc arenas in this process (glibc makes up to 8 per CPU, one per
    thread that allocates while the others hold theirs, and each keeps its freed buffers)."""
    libc = _libc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, max(1, count)) == 1


def trim() -> bool:
    """Give the free memory of every arena back to the kernel (glibc's `malloc_trim(0)`)."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))


class IdleTrim:
    """Trim once the process has done no job for `seconds` after its last one: under load
    freed buffers stay for the next job (`keep_freed_buffers`); after it, the process goes
    back to its working size instead of staying at its high-water mark.

    A job's begin and end only count under a lock: the trimming thread is woken by the first
    job to end after a trim, and otherwise looks again when its wait runs out, so a busy
    process does not switch to it twice a job (which cost ~3% of the CPU of a loaded server).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.trims = 0
        self._busy = 0
        self._last_end = 0.0  # time.monotonic() when the last job ended
        self._asleep = True  # trimmed (or never used): nothing to do until a job ends
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="pixelmill-trim", daemon=True)
        self._thread.start()

    def begin(self) -> None:
        with self._changed:
            self._busy += 1

    def end(self) -> None:
        with self._changed:
            self._busy -= 1
            self._last_end = time.monotonic()
            if self._asleep:
                self._asleep = False
                self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _loop(self) -> None:
        with self._changed:
            while not self._closed:
                if self._asleep:
                    self._changed.wait()
                    continue
                # freed work behind: trim once no job has run for `seconds`
                left = self.seconds if self._busy else self._last_end + self.seconds
                if not self._busy:
                    left -= time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                trim()
                self.trims += 1
                self._asleep = True
