"""A captioner process reuses its freed image buffers: no page faults per message.

Without `keep_freed_buffers`, glibc hands each freed buffer back to the kernel and faults
the next one in again: ~650 minor page faults and 1.5-2 ms of CPU per 640×480 caption in a
`pixelmill worker captioner` (its heap is trimmed between messages). The count of faults is
the kernel's, the same on a busy machine as on an idle one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pixelmill.jobs.redis_queue import RedisQueue
from pixelmill.redis_client import connect
from pixelmill.services import captions
from tests.images import encode, photo
from tests.redis_server import SHARED_REDIS_URL
from tests.server import start_pixelmill, stop

pytestmark = pytest.mark.redis
MESSAGES = 400


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def test_a_captioner_faults_in_no_pages_per_message(tmp_path: Path, redis_prefix: str) -> None:
    client = connect(SHARED_REDIS_URL)
    queue = RedisQueue(client, redis_prefix, max_length=10_000, claim_idle_ms=60_000)
    images = [encode(photo(640, 480, seed=i), ".jpg") for i in range(4)]
    now = datetime.now(UTC)
    for i in range(MESSAGES):
        message = captions.accepted_message(f"id{i}", images[i % 4], f"caption {i}", now)
        queue.put(captions.INBOX, message)
    env = {
        "PIXELMILL_REDIS_URL": SHARED_REDIS_URL,
        "PIXELMILL_REDIS_PREFIX": redis_prefix,
        "PIXELMILL_DATA_DIR": str(tmp_path / "data"),
    }
    worker = start_pixelmill(["worker", "captioner"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while queue.depth(captions.OUTBOX) < 100:  # started, and past its first messages
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        faults = minor_faults(worker.pid)
        done = queue.depth(captions.OUTBOX)
        while queue.depth(captions.OUTBOX) < MESSAGES:
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        per_message = (minor_faults(worker.pid) - faults) / (MESSAGES - done)
    finally:
        stop(worker)
        client.close()
    assert per_message < 50, f"{per_message:.0f} page faults per message"
