"""Warm the router and anyio up before the service reports healthy.

FastAPI builds each route's dependency and body models the first time a request is matched
against it (0.165: `_populate_api_route_state`, per included router), which cost the first
request to a route tens of milliseconds. One request for a path no route has, sent to the
router alone (no middleware: not counted, not logged, no API key), is matched against every
route, so every route is built before the first real request. And anyio's asyncio backend, which
Starlette loads at the first `Request.is_disconnected` (a large module), is loaded now.

FastAPI also notes where each endpoint is defined (0.165: `_extract_endpoint_context`, for
its error reports) the first time the endpoint answers, by reading and tokenizing the
endpoint's source file: 3-4 ms of the first request to every route, found by profiling the
first `/v1/transform` after start. Every endpoint's is noted here, on a thread; a FastAPI
without that function has nothing to warm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import suppress
from typing import Any

import anyio
import fastapi.routing
from fastapi import FastAPI
from starlette.exceptions import HTTPException

_PATH = "/.pixelmill-warm-up"


async def warm_routes(app: FastAPI) -> None:
    """Match a request for no route against every route of `app` (answered 404, dropped)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": _PATH,
        "raw_path": _PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 0),
        "client": ("127.0.0.1", 0),
        "app": app,
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    with suppress(HTTPException):
        await app.router(scope, receive, send)
    anyio.get_cancelled_exc_class()  # imports the running loop's anyio backend
    note = getattr(fastapi.routing, "_extract_endpoint_context", None)
    if callable(note):
        await asyncio.to_thread(_note_endpoints, note, app.router.routes)


def _note_endpoints(note: Callable[[Any], object], routes: Iterable[Any]) -> None:
    for endpoint in _endpoints(routes):
        with suppress(Exception):  # FastAPI's own call tolerates any failure too
            note(endpoint)


def _endpoints(routes: Iterable[Any]) -> Iterator[Any]:
    """Every endpoint under `routes`: in included routers and mounts too."""
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is not None:
            yield endpoint
        included = getattr(route, "original_router", None)  # FastAPI 0.165's include_router
        yield from _endpoints(getattr(included or route, "routes", None) or [])
