"""Delivery under load: a miss takes a place of PIXELMILL_MAX_IN_FLIGHT as a transform does
(429 past it); cache hits and 304s take none."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from pixelmill.api import create_app
from tests.delivery.conftest import delivery_settings, signed
from tests.images import encode, photo


def test_misses_past_the_limit_are_429_and_hits_still_served(tmp_path: Path) -> None:
    settings = delivery_settings(tmp_path, max_in_flight=1)
    settings.files_root_path.mkdir(parents=True)
    (settings.files_root_path / "big.png").write_bytes(encode(photo(2400, 1800, seed=2)))
    (settings.files_root_path / "small.png").write_bytes(encode(photo(64, 48, seed=2)))
    with TestClient(create_app(settings)) as client:
        cached = signed("resize=0.5", "local/small.png")
        etag = client.get(cached).headers["etag"]
        slow: list[int] = []
        worker = threading.Thread(
            target=lambda: slow.append(client.get(signed("blur=151", "local/big.png")).status_code)
        )
        worker.start()
        deadline = time.monotonic() + 10
        while client.app.state.pools.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = client.get(signed("resize=0.25", "local/small.png"))
        hit = client.get(cached)
        revalidated = client.get(cached, headers={"If-None-Match": etag})
        worker.join()
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert hit.status_code == 200 and hit.headers["x-cache"] == "hit"
    assert revalidated.status_code == 304
    assert slow == [200]
