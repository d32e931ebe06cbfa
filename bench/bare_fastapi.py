"""The memory floor of the contract: a FastAPI app under uvicorn that does no image work.

`bench/thumbor_peer.py` serves it beside pixelmill and thumbor and loads it the same way:
`POST /v1/transform` parses the multipart upload as pixelmill does, then answers 32 KB of
zeros (the size of the real 960x540 JPEG) without decoding anything. Whatever pixelmill
holds above this app's memory is pixelmill's; what this app holds is FastAPI's, uvicorn's
and Python's, which SPEC.md fixes.

    .venv/bin/python -m uvicorn --app-dir bench bare_fastapi:app --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

ANSWER = bytes(32_000)

app = FastAPI(title="bare FastAPI app (no image work)")


@app.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@app.post("/v1/transform")
async def transform(request: Request) -> Response:
    async with request.form() as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return JSONResponse({"detail": "no file"}, status_code=422)
        await upload.read()
    return Response(ANSWER, media_type="image/jpeg")
