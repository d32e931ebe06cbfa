"""Warm the router and anyio up before the service reports healthy.

FastAPI builds each route's dependency and body models the first time a request is matched
against it (0.165: `_populate_api_route_state`, per included router), which cost the first
request to a route tens of milliseconds. One request for a path no route has, sent to the
router alone (no middleware: not counted, not logged, no API key), is matched against every
route, so every route is built before the first real request. And anyio's asyncio backend, which
Starlette loads at the first `Request.is_disconnected` (a large module), is loaded now.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import suppress
from typing import Any

import anyio
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
