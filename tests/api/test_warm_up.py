"""The warm-up at start-up (api/warm.py, the pools' job threads) leaves no trace a user would
see: no request in the metrics, no line in the log, and the service answers as before; and it
warms what the first request would otherwise pay for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.execution import pools as pools_module
from pixelmill.execution.pools import Pools
from tests.images import encode, photo


def test_warm_up_is_not_a_request(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    app = create_app(settings)
    with TestClient(app) as client:
        metrics = client.get("/metrics").text
        response = client.post(
            "/v1/transform",
            files={"file": ("a.png", encode(photo(40, 30)))},
            data={"ops": "resize=0.5"},
        )
    assert response.status_code == 200
    assert "warm-up" not in metrics
    assert 'status="404"' not in metrics
    log = (settings.data_dir / "logs" / "pixelmill.log").read_text()
    assert "pools ready" in log  # the log of this start
    assert "warm-up" not in log and "404" not in log


def test_every_job_thread_is_warmed_before_start_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job thread decodes and encodes once at start: a thread's first codec use sets up
    its own state, which the first request on a cold thread paid for."""
    warmed: list[str] = []
    monkeypatch.setattr(
        pools_module, "_warm_up_in_process", lambda: warmed.append(threading.current_thread().name)
    )
    pools = Pools(3, 1, execution="threads")
    pools.start()
    try:
        assert sorted(warmed) == [f"pixelmill-job_{i}" for i in range(3)]
    finally:
        pools.shutdown()


def test_every_endpoint_is_noted_before_the_first_request(
    make_settings: Callable[..., Settings],
) -> None:
    """FastAPI (0.165) reads an endpoint's source file the first time the endpoint answers;
    the warm-up has it read every one at start."""
    noted = getattr(fastapi.routing, "_endpoint_context_cache", None)
    if noted is None:
        pytest.skip("this FastAPI does not read endpoints' sources: nothing to warm")
    app = create_app(make_settings())
    endpoints = {route.path: route.endpoint for route in _api_routes(app.routes)}
    assert "/v1/transform" in endpoints and "/api/images" in endpoints
    with TestClient(app):
        missing = [path for path, endpoint in endpoints.items() if id(endpoint) not in noted]
    assert endpoints and not missing, missing


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """The API's routes, those of included routers too (FastAPI 0.165 keeps each included
    router whole, as one entry of the app's routes)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        included = getattr(route, "original_router", None)
        if included is not None:
            found += _api_routes(included.routes)
    return found
