"""Keep freed image buffers for reuse instead of handing them back to the kernel.

Every message and request allocates and frees buffers of the image's size (the decoded
pixels, the result, the encoded bytes). With glibc's defaults a buffer that large is an
mmap of its own, or lands in a heap that is trimmed as soon as it is freed, so the next one
page-faults all of its pages in again: for a 640×480 caption, ~650 faults and 1.5–2 ms of
CPU a message, a third of the captioner's time. Raising the mmap and trim thresholds keeps
the freed memory in the process for the next buffer (the process then stays at the size of
its largest working set, up to `TRIM_THRESHOLD` more).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

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
