"""Serving stored jobs' results: a page of the list, the 409 while a job is not stored, and
the stored image from the blob store (a file streamed from disk, or bytes from S3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.responses import FileResponse, JSONResponse, Response

from pixelmill.errors import NotFound
from pixelmill.storage.blobs import BlobStore
from pixelmill.storage.db import Database

Item = TypeVar("Item")


async def page(
    database: Database,
    repository: Any,
    item: Callable[[Any], Item],
    response: Response,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> list[Item]:
    """A page of `repository`'s rows, newest first, each as `item(row)`; the total of rows
    in `status` goes in the `X-Total-Count` header. The database is read off the loop."""

    def read() -> tuple[list[Item], int]:
        with database.session() as session:
            rows, total = repository.list(session, status=status, limit=limit, offset=offset)
            return [item(row) for row in rows], total

    items, total = await asyncio.to_thread(read)
    response.headers["X-Total-Count"] = str(total)
    return items


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
