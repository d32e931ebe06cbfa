"""Optional API keys: with `api_keys` set, requests outside the open paths need a key."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from pixelmill.api.limits import send_error

# Open without a key: health, the API docs and their files, metrics, the UI's pages and its
# static files, and signed delivery URLs (their signature is their authorization: an <img>
# cannot send a key).
OPEN_PATHS = frozenset(
    {
        "/",
        "/health",
        "/health/live",
        "/health/ready",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/metrics",
    }
)
OPEN_PREFIXES = ("/ui/", "/static/", "/docs/static/", "/img/", "/info/")
POLICY_VIOLATION = 1008


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path == "/ui" or path.startswith(OPEN_PREFIXES)


class ApiKeyMiddleware:
    """401 (`WWW-Authenticate: Bearer`) without a valid `Authorization: Bearer <key>` or
    `X-API-Key: <key>`; websockets, whose browsers cannot set headers, may pass `?api_key=`."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]

    def _valid(self, given: bytes | None) -> bool:
        if not given:
            return False
        # compare against every key, so the time taken does not tell which one came close
        matches = [hmac.compare_digest(given, key) for key in self.keys]
        return any(matches)

    def _from_headers(self, scope: Scope) -> bytes | None:
        headers = dict(scope.get("headers", []))
        if b"x-api-key" in headers:
            return bytes(headers[b"x-api-key"])
        scheme, _, token = bytes(headers.get(b"authorization", b"")).partition(b" ")
        return token.strip() if scheme.lower() == b"bearer" else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("api_key", [""])[0].encode() or self._from_headers(scope)
            if self._valid(given):
                await self.app(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": POLICY_VIOLATION})
            return
        if self._valid(self._from_headers(scope)):
            await self.app(scope, receive, send)
            return
        await send_error(send, 401, "missing or wrong API key", [(b"www-authenticate", b"Bearer")])
