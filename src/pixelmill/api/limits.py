"""ASGI middleware: the request-body limits (size and stall time, enforced while the body
streams in, before anything is parsed), and the header naming the API process that answered."""

from __future__ import annotations

import asyncio
import json
import os
import socket

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """413 for a body over `limit` bytes: at once from Content-Length, else when it is crossed.
    408 when the next piece of a body takes longer than `timeout` seconds to come (a client
    that stalls, or sends a byte a minute, holds no place for long)."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float | None = None) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return

        seen = 0
        refusal: tuple[int, str] | None = None
        body_done = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, refusal, body_done
            if body_done:  # after the body, receive() waits for the disconnect: no deadline
                return await receive()
            try:
                # a deadline on this task, not wait_for's task per piece of the body
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                refusal = (408, f"the request body stalled: no data for {self.timeout:g} s")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.limit:
                    refusal = (413, self._too_large(seen))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None and not started:
                return  # the app's answer to a cut-off body is replaced by the refusal below
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if refusal is None:
                raise
        if refusal is not None and not started:
            await send_error(send, *refusal, [(b"connection", b"close")])

    def _too_large(self, size: int) -> str:
        return f"request body is over the limit of {self.limit:,} bytes (got at least {size:,})"

    async def _refuse(self, send: Send, size: int) -> None:
        await send_error(send, 413, self._too_large(size), [(b"connection", b"close")])


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON `{"detail": ...}` answer sent from ASGI middleware, before any route runs."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ProcessHeaderMiddleware:
    """`X-Pixelmill-Process: <host>:<pid>` on every response: which of several API processes
    (`serve --workers N`, or replicas behind a load balancer) answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.value = f"{socket.gethostname()}:{os.getpid()}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-pixelmill-process", self.value),
                ]
            await send(message)

        await self.app(scope, receive, send_with_header)
