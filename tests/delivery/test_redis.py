"""Two API processes on one Redis share the result cache and compute a cold result once."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import pytest

from tests.delivery.conftest import KEYS, signed
from tests.images import encode, photo
from tests.redis_server import SHARED_REDIS_URL
from tests.server import running_server

pytestmark = pytest.mark.redis


def computed(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    found = re.search(r"^pixelmill_delivery_computed_total ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, "no pixelmill_delivery_computed_total in /metrics"
    return float(found.group(1))


def test_two_processes_share_the_cache_and_compute_once(tmp_path: Path, redis_prefix: str) -> None:
    data = tmp_path / "data"
    (data / "files").mkdir(parents=True)
    (data / "files" / "big.png").write_bytes(encode(photo(1600, 1200, seed=5)))
    (data / "files" / "small.png").write_bytes(encode(photo(200, 150, seed=6)))
    env = {
        "PIXELMILL_DATA_DIR": str(data),  # one database, files root and cache dir for both
        "PIXELMILL_REDIS_URL": SHARED_REDIS_URL,
        "PIXELMILL_REDIS_PREFIX": redis_prefix,
        "PIXELMILL_URL_KEYS": ",".join(KEYS),
        "PIXELMILL_PROCESS_WORKERS": "1",
        "PIXELMILL_THREAD_WORKERS": "1",
        "PIXELMILL_RUN_WORKERS": "true",  # so /health says 200: every service has a worker
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_server(tmp_path / "a", env=env) as first,
        running_server(tmp_path / "b", env=env) as second,
    ):
        # a result made by one process is a hit in the other
        small = signed("resize=0.5", "local/small.png")
        assert httpx.get(first + small, timeout=30).headers["x-cache"] == "miss"
        hit = httpx.get(second + small, timeout=30)
        assert hit.status_code == 200
        assert hit.headers["x-cache"] == "hit"

        # 16 concurrent cold requests, 8 to each process: one computation in all
        path = signed("blur=41,resize=0.5", "local/big.png")
        before = computed(first) + computed(second)
        start = threading.Barrier(16)
        bodies: list[bytes] = []

        def one(base: str) -> None:
            start.wait()
            response = httpx.get(base + path, timeout=60)
            assert response.status_code == 200, response.text
            bodies.append(response.content)

        threads = [threading.Thread(target=one, args=(base,)) for base in [first, second] * 8]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(bodies) == 16
        assert len(set(bodies)) == 1
        assert computed(first) + computed(second) - before == 1
