"""Request ids: `X-Request-ID` on every response and in every log line of the request."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelmill.api.errors import unexpected_error
from pixelmill.log import request_id as current

HEADER = b"x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def _choose(scope: Scope) -> str:
    given = dict(scope.get("headers", [])).get(HEADER, b"").decode("latin-1")
    return given if _SANE.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Keep a sane client-given `X-Request-ID` (≤ 128 of [A-Za-z0-9._-]), else make one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _choose(scope)
        token = current.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER],
                    (HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            # A bug: answered here, not by Starlette's outermost error middleware, so that
            # the 500 carries the id of the log line that holds the traceback.
            if started or scope["type"] != "http":
                raise
            response = unexpected_error(scope["method"], scope["path"], error)
            await response(scope, receive, send_with_id)
        finally:
            current.reset(token)
