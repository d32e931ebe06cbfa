"""`/api/images`: the captions surface (upload with a description, list, fetch)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from pixelmill.api.deps import RuntimeDep, SettingsDep
from pixelmill.api.stored import not_stored, page, stored_image
from pixelmill.api.uploads import is_control, read_image
from pixelmill.delivery import signing
from pixelmill.errors import InvalidParameter, NotFound
from pixelmill.services import captions
from pixelmill.services.accept import Job
from pixelmill.storage.models import Status

router = APIRouter(prefix="/api/images", tags=["captions"])
MAX_OFFSET = 2**62  # SQL integers are 64-bit: a larger offset is a 422, not a database error


class Accepted(BaseModel):
    id: str = Field(examples=["3f0c9d2e6b7a4c1f9e8d7c6b5a493827"])
    status: Status = Status.QUEUED
    received_at: datetime = Field(description="When the upload was received (UTC, ISO 8601).")


class Gallery(BaseModel):
    """Signed delivery paths of one stored image, as the web UI's galleries show it."""

    src: str
    srcset: str
    full: str


class CaptionItem(BaseModel):
    id: str
    received_at: datetime
    description: str
    status: Status
    url: str = Field(description="Where the captioned JPEG is served once stored.")
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    error: str | None = None
    images: Gallery | None = Field(
        None,
        description="Once stored, and when the server signs delivery URLs: signed /img paths "
        "for a thumbnail (`src`, `srcset` at 1x and 2x, format=auto) and the full image.",
    )


@router.post(
    "",
    status_code=202,
    summary="Upload an image with a description to be captioned",
    responses={
        202: {
            "description": "Accepted; the caption is made in the background",
            # OpenAPI links: clients and generated tests follow the id to the image
            "links": {
                "GetCaption": {
                    "operationId": "get_caption_api_images__id__get",
                    "parameters": {"id": "$response.body#/id"},
                }
            },
        },
        413: {"description": "The file is over the byte or pixel limit"},
        415: {"description": "The file is not an image"},
        422: {"description": "No image, no description, or a description over the limit"},
        503: {"description": "The queue cannot take the job now; nothing was kept"},
    },
)
async def accept(
    settings: SettingsDep,
    runtime: RuntimeDep,
    description: Annotated[
        str | None,
        Form(description="Text for the caption, 1-200 characters of UTF-8", examples=["Привет"]),
    ] = None,
    image: Annotated[UploadFile | None, File(description="The image (JPEG, PNG, ...)")] = None,
    file: Annotated[UploadFile | None, File(description="Accepted instead of `image`")] = None,
) -> Accepted:
    """Record the job, queue it and answer 202 at once; the caption is made in the background."""
    if description is None or not description.strip():
        raise InvalidParameter("a description is required (1 to 200 characters)")
    if len(description) > settings.max_description_chars:
        raise InvalidParameter(
            f"description is {len(description)} characters; "
            f"the limit is {settings.max_description_chars}"
        )
    control = next((c for c in description if is_control(c)), None)
    if control is not None:
        raise InvalidParameter(
            f"description holds a control character (U+{ord(control):04X}); "
            "send plain text, UTF-8 encoded"
        )
    data, info = await read_image(image or file, settings, "`image` (or `file`)")
    captions.check_captionable(
        info,
        description,
        settings.caption_font,
        settings.caption_font_size,
        settings.caption_overlay,
    )

    id, received_at = uuid.uuid4().hex, datetime.now(UTC)
    repository = runtime.repository
    await runtime.accept(
        Job(
            captions.INBOX,
            id,
            data,
            captions.accepted_message(id, data, description, received_at),
            # no flush: the rows recorded together are inserted in one statement at the commit
            lambda session: repository.add(session, id, received_at, description, flush=False),
            lambda session: repository.delete(session, id),
        )
    )
    return Accepted(id=id, received_at=received_at)


@router.get("", summary="List captions, newest first")
async def list_captions(
    runtime: RuntimeDep,
    settings: SettingsDep,
    response: Response,
    status: Annotated[Status | None, Query(description="Only items in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[CaptionItem]:
    """Every accepted item, newest first; the total is in the `X-Total-Count` header."""

    keys = settings.url_key_list
    return await page(
        runtime.database,
        runtime.repository,
        lambda row: _item(row, keys),
        response,
        status=status,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{id}",
    summary="The captioned image",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The captioned JPEG"},
        404: {"description": "No such id"},
        409: {"description": "Not stored yet (queued or processing), or failed: see `status`"},
    },
)
async def get_caption(runtime: RuntimeDep, id: str) -> Response:

    def read() -> Any:
        with runtime.database.session() as session:
            row = runtime.repository.get(session, id)
            return None if row is None else (row.status, row.file_path, row.error)

    found = await asyncio.to_thread(read)
    if found is None:
        raise NotFound(f"no image with id {id!r}")
    status, file_path, error = found
    refusal = not_stored(id, status, error)
    if refusal is not None:
        return refusal
    return await stored_image(runtime.blobs, file_path, "image/jpeg", id)


def _item(row: Any, url_keys: Sequence[str] = ()) -> CaptionItem:
    stored = row.status == Status.STORED
    return CaptionItem(
        id=row.id,
        received_at=row.received_at,
        description=row.description,
        status=row.status,
        url=f"/api/images/{row.id}",
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        error=row.error,
        images=signing.gallery(url_keys, f"captions/{row.id}") if stored else None,
    )
