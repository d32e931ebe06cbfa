"""Error responses: every error leaves as JSON `{"detail": ...}`, never with a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pixelmill.errors import RETRYABLE, PixelmillError

log = logging.getLogger("pixelmill.api")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PixelmillError, _pixelmill_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _pixelmill_error(request: Request, exc: PixelmillError) -> JSONResponse:
    headers = {"Retry-After": "1"} if isinstance(exc, RETRYABLE) else None
    if exc.status_code >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status_code, exc)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
