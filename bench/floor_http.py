"""The codec floor behind HTTP: the least a Python HTTP server doing `/v1/transform`'s work
can take, for `bench/thumbor_peer.py` to measure beside pixelmill.

`codec_floor` is the transform benchmark's floor: decode the JPEG at half size straight to
gray with libjpeg-turbo's DCT scaling, blur it 5x5, encode it at quality 85, on one thread.
`app` serves it as `POST /v1/transform` with nothing else: a raw ASGI app (no framework, no
middleware, no checks, no limits), the body read whole, its `file` part found with
python-multipart (the parser pixelmill uses), the floor's work on a thread per CPU so that
the event loop stays free, the JPEG answered. Under uvicorn with uvloop and httptools, as
pixelmill runs, it is what HTTP and one hand-off to a thread cost on this machine; the gap
between it and the floor is no server's to close.

`fastapi_app` serves the same work through FastAPI, which SPEC.md fixes: one route taking
the `Request`, the same body read, parser, thread and answer; no middleware, checks or
limits. The gap between it and `app` is FastAPI's own; between it and the floor, the least
any server under the contract can take.

    .venv/bin/python -m uvicorn --app-dir bench floor_http:app --port 8002
    .venv/bin/python -m uvicorn --app-dir bench floor_http:fastapi_app --port 8003
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header

Scope = dict[str, Any]
Receive = Any
Send = Any


def codec_floor(jpeg: bytes) -> bytes:
    """Decode at half size straight to gray, blur 5x5, encode at 85: what any server must do
    for this request, with the libjpeg-turbo pixelmill uses (OpenCV's)."""
    gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if gray is None:
        raise RuntimeError("JPEG decoding failed")
    ok, encoded = cv2.imencode(
        ".jpg", cv2.GaussianBlur(gray, (5, 5), 0), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


cv2.setNumThreads(1)  # one thread per request, as the floor; requests run side by side
_threads = ThreadPoolExecutor(len(os.sched_getaffinity(0)), thread_name_prefix="floor")


def file_part(body: bytes, boundary: bytes) -> bytes:
    """The bytes of the multipart body's part named "file" (empty when there is none)."""
    found: dict[str, Any] = {"name": b"", "header": b"", "headers": b"", "file": []}

    def header_value(data: bytes, start: int, end: int) -> None:
        found["header"] += data[start:end]

    def header_end() -> None:
        found["headers"] += found["header"] + b";"
        found["header"] = b""

    def headers_finished() -> None:
        _, options = parse_options_header(found["headers"])
        found["name"], found["headers"] = options.get(b"name", b""), b""

    def part_data(data: bytes, start: int, end: int) -> None:
        if found["name"] == b"file":
            found["file"].append(data[start:end])

    MultipartParser(
        boundary,
        {
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": part_data,
        },
    ).write(body)
    return b"".join(found["file"])


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/health":
        await _answer(send, 200, b"text/plain", b"ok")
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    headers = dict(scope["headers"])
    _, options = parse_options_header(headers.get(b"content-type", b""))
    jpeg = file_part(b"".join(chunks), options.get(b"boundary", b""))
    result = await asyncio.get_running_loop().run_in_executor(_threads, codec_floor, jpeg)
    await _answer(send, 200, b"image/jpeg", result)


async def _answer(send: Send, status: int, media_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


fastapi_app = FastAPI(title="the floor behind FastAPI")


@fastapi_app.get("/health")
async def health() -> PlainTextResponse:
    return PlainTextResponse("ok")


@fastapi_app.post("/v1/transform")
async def transform(request: Request) -> Response:
    _, options = parse_options_header(request.headers.get("content-type", ""))
    jpeg = file_part(await request.body(), options.get(b"boundary", b""))
    result = await asyncio.get_running_loop().run_in_executor(_threads, codec_floor, jpeg)
    return Response(result, media_type="image/jpeg")
