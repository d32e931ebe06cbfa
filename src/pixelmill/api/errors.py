"""Error responses: every error leaves as JSON `{"detail": ...}`, never with a traceback."""

from __future__ import annotations

import functools
import logging
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from pixelmill.errors import RETRYABLE, PixelmillError

log = logging.getLogger("pixelmill.api")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PixelmillError, _pixelmill_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _pixelmill_error(request: Request, exc: PixelmillError) -> JSONResponse:
    headers = {"Retry-After": "1"} if isinstance(exc, RETRYABLE) else None
    if exc.status_code >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status_code, exc)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


MAX_ECHO = 100  # characters of a refused value that a 422 repeats back


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, but a refused value is echoed to at most MAX_ECHO characters (not the
    megabyte of an upload sent as a plain field), and that mistake is named."""
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "Expected UploadFile" in str(error.get("msg", "")):
            error["msg"] = (
                "expected a file: a form part with a file name (curl -F 'file=@photo.jpg'), "
                "got a plain form field"
            )
        value = error.get("input")
        if isinstance(value, str | bytes) and len(value) > MAX_ECHO:
            error["input"] = f"{value[:MAX_ECHO]!r}... ({len(value):,} in all)"
        errors.append(error)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def unexpected_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    """Log a bug with its traceback; the 500 the client gets names neither."""
    log.error("unhandled error in %s %s", method, path, exc_info=exc)
    return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # only for errors outside RequestIdMiddleware, which answers those raised inside it
    return unexpected_error(request.method, request.url.path, exc)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI's answer, but a 405's `Allow` names every method of the path: Starlette names
    those of the first route that matched it only (GET and POST /api/images are two routes)."""
    if exc.status_code == 405:
        allowed = {
            method.upper()
            for template, operations in request.app.openapi()["paths"].items()
            if _template(template).fullmatch(request.url.path)
            for method in operations
        }
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return await http_exception_handler(request, exc)


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    """`/api/images/{id}` as a pattern: each `{name}` stands for one path segment."""
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))
