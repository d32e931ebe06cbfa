"""`HEAD` on every `GET` route: the GET's status and headers, without the body.

Starlette's plain routes answer HEAD, FastAPI's API routes do not (405). Rather than declare a
HEAD beside each GET, this middleware routes a HEAD as the GET it stands for and drops the
body on its way out; a 405's `Allow` then names HEAD wherever it names GET.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Innermost middleware: the routes see a GET; outer ones (logs, metrics) see the HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = MutableHeaders(scope=message)
                allowed = [method.strip() for method in headers.get("allow", "").split(",")]
                if "GET" in allowed and "HEAD" not in allowed:
                    headers["allow"] = ", ".join([*allowed, "HEAD"])
            elif head and message["type"] in ("http.response.body", "http.response.pathsend"):
                message = {
                    "type": "http.response.body",
                    "body": b"",
                    "more_body": message.get("more_body", False),
                }
            await send(message)

        if not head:
            await self.app(scope, receive, answer)
            return
        # in place, not a copy: the router writes the matched route into this scope, and the
        # metrics outside read it from there
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, answer)
        finally:
            scope["method"] = "HEAD"
