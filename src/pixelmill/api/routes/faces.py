"""`/api/v1/images` (aliases `/image`, `/images`) and the websocket `/faces`: the faces surface.

POST /api/v1/images            upload (202)
GET  /api/v1/images            the uploads, newest first (limit, offset, X-Total-Count)
GET  /api/v1/images/{id}       the boxed image;  .../meta  its size and boxes
WS   /faces                    every result as it is stored
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from pixelmill.api.deps import RuntimeDep, SettingsDep
from pixelmill.api.routes.captions import MAX_OFFSET, Gallery
from pixelmill.api.stored import not_stored, page, stored_image
from pixelmill.api.uploads import client_filename, read_image
from pixelmill.delivery import signing
from pixelmill.errors import NotFound
from pixelmill.events.hub import Hub
from pixelmill.imaging import codec
from pixelmill.services import faces
from pixelmill.services.accept import Job
from pixelmill.services.runtime import Runtime
from pixelmill.storage.models import Status

router = APIRouter(tags=["faces"])


class FacesAccepted(BaseModel):
    id: str = Field(examples=["9b2f6c0d4e3a4b5c8d7e6f5a4b3c2d1e"])
    status: Status = Status.QUEUED
    url: str = Field(description="The boxed image, once processed (409 until then).")
    meta_url: str = Field(description="Its metadata: size and face boxes.")
    created_at: datetime


class FaceBox(BaseModel):
    x: int
    y: int
    width: int
    height: int
    score: float | None = None


class FacesMeta(BaseModel):
    id: str
    status: Status
    width: int
    height: int
    faces: list[FaceBox]
    face_count: int
    detector: str | None
    filename: str | None
    url: str
    created_at: datetime
    processing_ms: float | None = None


_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted; faces are found in the background",
        # OpenAPI links: clients and generated tests follow the id to the result
        "links": {
            "GetImage": {
                "operationId": "get_image_api_v1_images__id__get",
                "parameters": {"id": "$response.body#/id"},
            },
            "GetMeta": {
                "operationId": "get_meta_api_v1_images__id__meta_get",
                "parameters": {"id": "$response.body#/id"},
            },
        },
    },
    413: {"description": "The file is over the byte or pixel limit"},
    415: {"description": "The file is not an image"},
    422: {"description": "No file, or an empty one"},
    503: {"description": "The queue cannot take the job now; nothing was kept"},
}


@router.post(
    "/api/v1/images",
    status_code=202,
    summary="Upload an image for face detection",
    responses=_UPLOAD_ERRORS,
)
@router.post(
    "/images", status_code=202, summary="Alias of /api/v1/images", responses=_UPLOAD_ERRORS
)
@router.post("/image", status_code=202, summary="Alias of /api/v1/images", responses=_UPLOAD_ERRORS)
async def accept(
    settings: SettingsDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile | None, File(description="The image (JPEG, PNG, ...)")] = None,
    image: Annotated[UploadFile | None, File(description="Accepted instead of `file`")] = None,
) -> FacesAccepted:
    """Queue the detection and answer at once; the result's URL is also pushed on `/faces`."""
    upload = file or image
    data, info = await read_image(upload, settings, "`file` (or `image`)")
    id, created_at = uuid.uuid4().hex, datetime.now(UTC)
    filename = client_filename(upload)
    repository = runtime.face_repository
    fmt = info.format.lower()
    await runtime.accept(
        Job(
            faces.INBOX,
            id,
            data,
            faces.accepted_message(id, data, filename, created_at),
            # no flush: the rows recorded together are inserted in one statement at the commit
            lambda session: repository.add(session, id, created_at, filename, fmt, flush=False),
            lambda session: repository.delete(session, id),
        )
    )
    url = faces.image_url(id)
    return FacesAccepted(id=id, url=url, meta_url=url + "/meta", created_at=created_at)


class FaceItem(BaseModel):
    """One upload of the faces surface, as the list shows it."""

    id: str = Field(examples=["9b2f6c0d4e3a4b5c8d7e6f5a4b3c2d1e"])
    status: Status
    url: str = Field(description="The boxed image (409 until it is stored).")
    meta_url: str = Field(description="Its metadata: size and face boxes.")
    faces: int | None = Field(
        None,
        description="How many faces were found, once stored (as in the /faces events).",
        examples=[1],
    )
    boxes: list[FaceBox] = Field(
        default_factory=list, description="The faces' boxes in the image's pixels, once stored."
    )
    width: int | None = None
    height: int | None = None
    filename: str | None = None
    created_at: datetime = Field(description="When the upload was received (UTC, ISO 8601).")
    stored_at: datetime | None = Field(None, description="When the result was stored.")
    processing_ms: float | None = None
    error: str | None = None
    images: Gallery | None = Field(
        None,
        description="Once stored, and when the server signs delivery URLs: signed /img paths "
        "for a thumbnail (`src`, `srcset` at 1x and 2x, format=auto) and the full image, as "
        "the /faces events carry them.",
    )


@router.get("/api/v1/images", summary="List face results, newest first")
async def list_images(
    runtime: RuntimeDep,
    settings: SettingsDep,
    response: Response,
    status: Annotated[Status | None, Query(description="Only items in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[FaceItem]:
    """Every upload, newest first (by when it was received); the total is in the
    `X-Total-Count` header. The faces page loads the recent ones, then follows `/faces`."""

    keys = settings.url_key_list
    return await page(
        runtime.database,
        runtime.face_repository,
        lambda row: _item(row, keys),
        response,
        status=status,
        limit=limit,
        offset=offset,
    )


def _item(row: Any, url_keys: Sequence[str]) -> FaceItem:
    stored = row.status == Status.STORED
    url = faces.image_url(row.id)
    boxes = [FaceBox(**box) for box in row.faces or []]
    return FaceItem(
        id=row.id,
        status=row.status,
        url=url,
        meta_url=url + "/meta",
        faces=(row.face_count if row.face_count is not None else len(boxes)) if stored else None,
        boxes=boxes,
        width=row.width,
        height=row.height,
        filename=row.filename,
        created_at=row.created_at,
        stored_at=row.updated_at if stored else None,
        processing_ms=row.processing_ms,
        error=row.error,
        images=signing.gallery(url_keys, f"faces/{row.id}") if stored else None,
    )


def _read_row(runtime: Runtime, id: str) -> Any:
    with runtime.database.session() as session:
        return runtime.face_repository.get(session, id)


async def _row(runtime: Runtime, id: str) -> tuple[Any, JSONResponse | None]:
    row = await asyncio.to_thread(_read_row, runtime, id)
    if row is None:
        raise NotFound(f"no image with id {id!r}")
    return row, not_stored(id, row.status, row.error)


@router.get(
    "/api/v1/images/{id}",
    summary="The image with a box around each face",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}},
        404: {"description": "No such id"},
        409: {"description": "Still being processed, or failed: see `status`"},
    },
)
async def get_image(runtime: RuntimeDep, id: str) -> Response:
    row, refusal = await _row(runtime, id)
    if refusal is not None:
        return refusal
    media = codec.format_for_path(PurePath(row.file_path)).media_type
    return await stored_image(runtime.blobs, row.file_path, media, id)


@router.get(
    "/api/v1/images/{id}/meta",
    summary="Size and face boxes of a processed image",
    responses={404: {"description": "No such id"}, 409: {"description": "Not processed yet"}},
)
async def get_meta(runtime: RuntimeDep, id: str) -> Any:
    row, refusal = await _row(runtime, id)
    if refusal is not None:
        return refusal
    return FacesMeta(
        id=row.id,
        status=row.status,
        width=row.width,
        height=row.height,
        faces=[FaceBox(**box) for box in row.faces or []],
        face_count=row.face_count if row.face_count is not None else len(row.faces or []),
        detector=row.detector,
        filename=row.filename,
        url=faces.image_url(row.id),
        created_at=row.created_at,
        processing_ms=row.processing_ms,
    )


@router.websocket("/faces")
async def feed(websocket: WebSocket) -> None:
    """Every processed image, as it is stored: one JSON text frame `{"id", "url", "faces", ...}`."""
    hub: Hub = websocket.app.state.hub
    await hub.serve(websocket)
