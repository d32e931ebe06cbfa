"""Serving stored jobs' results: the 409 while a job is not stored, and the stored image from
the blob store (a file streamed from disk, or bytes from S3)."""

from __future__ import annotations

import asyncio

from fastapi.responses import FileResponse, JSONResponse, Response

from pixelmill.errors import NotFound
from pixelmill.storage.blobs import BlobStore


async def stored_image(blobs: BlobStore, key: str, media_type: str, id: str) -> Response:
    """The stored image `key` as a response (404 when the store has lost it)."""
    path = blobs.local_path(key)
    if path is None:
        return Response(await asyncio.to_thread(blobs.get, key), media_type=media_type)
    if not path.is_file():
        raise NotFound(f"the stored file of image {id} is missing from storage")
    return FileResponse(path, media_type=media_type)


def not_stored(id: str, status: str, error: str | None) -> JSONResponse | None:
    """409 `{"detail", "status"}` for a job still queued or processing, or failed; else None."""
    if status == "stored":
        return None
    detail = f"image {id} is {status}" + (f": {error}" if error else "; try again shortly")
    return JSONResponse({"detail": detail, "status": status}, status_code=409)
