"""Pools: a worker process that dies costs at most the requests it held; the service recovers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import encode, photo


def test_killed_worker_gives_503_then_service_recovers(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    files = {"image1": ("a.png", encode(photo(50, 40))), "image2": ("b.png", encode(photo(50, 40)))}
    with TestClient(app) as client:
        pools = app.state.pools
        if not pools.worker_processes:
            pytest.skip("threads execution has no worker process (a native crash ends it)")
        pid = client.portal.call(pools.run, os.getpid)  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        statuses = []
        for _ in range(5):
            response = client.post("/process", files=files)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert "worker process died" in response.json()["detail"]
                assert response.headers["Retry-After"] == "1"
            if response.status_code == 200:
                break
        # Usually [503, 200]: the request that met the dead pool, then service again. On a
        # busy machine the surviving worker may serve it before the death is noticed: [200].
        assert statuses in ([503, 200], [200]), statuses
        deadline = time.monotonic() + 30
        while (health := client.get("/health").json())["components"]["workers"]["restarts"] < 1:
            assert time.monotonic() < deadline, health
            time.sleep(0.05)
        assert health["components"]["workers"]["restarts"] == 1
        assert client.post("/process", files=files).status_code == 200
