"""`/api/admin`: for the people who run pixelmill: dead letters to act on, and the dashboard's data.

    GET    /api/admin/dead-letters                       list (optional stream, limit)
    GET    /api/admin/dead-letters/{stream}/{id}          one
    POST   /api/admin/dead-letters/{stream}/{id}/requeue  run it once more
    POST   /api/admin/dead-letters/requeue                every one (optional stream)
    DELETE /api/admin/dead-letters/{stream}/{id}          drop it
    DELETE /api/admin/dead-letters                        drop every one (optional stream)
    GET    /api/admin/status                              queues, jobs, latencies, workers, cache

Behind the API keys when they are set (the key middleware: no path here is open). The work
is in `services.dead_letters` and `api.status`; the handlers are plain `def`s, so the queue
and the database are read off the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from pixelmill.api import status
from pixelmill.api.deps import RuntimeDep
from pixelmill.services import dead_letters

router = APIRouter(prefix="/api/admin", tags=["admin"], lifespan=status.sampling)

_STREAM = "captions:in"
_ID = "1733412000000-0"
_NO_LETTER = {
    "description": "No such stream, or no such letter in it",
    "content": {
        "application/json": {"example": {"detail": f"no dead letter {_ID!r} in stream {_STREAM!r}"}}
    },
}
_DOWN = {
    "description": "The queue cannot be reached",
    "content": {
        "application/json": {"example": {"detail": "queue unavailable: connection refused"}}
    },
}
_FULL = {
    "description": "The stream is full (the letter stays), or the queue cannot be reached",
    "content": {
        "application/json": {
            "example": {"detail": "queue full: captions:in holds 10000 messages; try again later"}
        }
    },
}

StreamPath = Annotated[
    str, Path(description="The stream the job was on", examples=["captions:in", "faces:in"])
]
LetterPath = Annotated[str, Path(description="The dead letter's id", examples=[_ID])]
StreamQuery = Annotated[
    str | None,
    Query(description="Only this stream (captions:in, captions:out, faces:in)", examples=[_STREAM]),
]


class FieldSize(BaseModel):
    """A value never shown whole (an image, or anything long or binary)."""

    bytes: int = Field(description="Its size", examples=[48213])
    kind: str = Field(description="jpeg, png, gif, webp, tiff, bmp, avif, heic, or binary")


class DeadLetterPublic(BaseModel):
    stream: str = Field(examples=[_STREAM])
    id: str = Field(description="The letter's id", examples=[_ID])
    job_id: str = Field(description="The job's id (its row in /api/images or /api/v1/images)")
    reason: str = Field(examples=["InvalidParameter('font \"/fonts/x.ttf\" is not a font')"])
    group: str = Field(description="The service that gave up", examples=["captioner"])
    original_id: str = Field(description="The message's id on its stream")
    deliveries: int = Field(description="How many times it was handed to a worker")
    first_failure: datetime | None = Field(description="When its first delivery failed")
    last_failure: datetime | None = Field(description="When it was given up on")
    fields: dict[str, str | FieldSize] = Field(
        description="The job's fields: text as text, images by size and kind, never bytes",
        examples=[
            {
                "id": "3f0c9d2e6b7a4c1f9e8d7c6b5a493827",
                "description": "Привет",
                "received_at": "2026-12-05T16:20:00+00:00",
                "image": {"bytes": 48213, "kind": "jpeg"},
            }
        ],
    )


class DeadLetterList(BaseModel):
    letters: list[DeadLetterPublic]
    counts: dict[str, int] = Field(
        description="Letters per stream, all of them (the list stops at `limit`)",
        examples=[{"captions:in": 1, "captions:out": 0, "faces:in": 0}],
    )


class Requeued(BaseModel):
    stream: str = Field(examples=[_STREAM])
    id: str = Field(description="The letter's id, now gone", examples=[_ID])
    message_id: str = Field(description="The job's new message id on its stream")


class Moved(BaseModel):
    count: int = Field(description="How many letters", examples=[3])


@router.get(
    "/dead-letters",
    summary="List dead letters",
    responses={404: _NO_LETTER, 503: _DOWN},
)
def list_dead_letters(
    runtime: RuntimeDep,
    stream: StreamQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many")] = 100,
) -> DeadLetterList:
    """Oldest first: stream, id, reason, deliveries, first and last failure, the job's fields
    (images by size and kind, never their bytes), and how many each stream holds."""
    letters = dead_letters.list_letters(runtime.queue, stream, limit)
    counts = dead_letters.counts(runtime.queue)
    return DeadLetterList(letters=[DeadLetterPublic(**letter) for letter in letters], counts=counts)


@router.post(
    "/dead-letters/requeue",
    summary="Requeue every dead letter",
    responses={404: _NO_LETTER, 503: _FULL},
)
def requeue_all(runtime: RuntimeDep, stream: StreamQuery = None) -> Moved:
    """Every letter (of `stream`, or of all) back onto its stream, each to run once more."""
    return Moved(count=dead_letters.requeue_all(runtime, stream))


@router.delete(
    "/dead-letters",
    summary="Delete every dead letter",
    responses={404: _NO_LETTER, 503: _DOWN},
)
def delete_all(runtime: RuntimeDep, stream: StreamQuery = None) -> Moved:
    """Every letter (of `stream`, or of all) dropped for good; their jobs stay `failed`."""
    return Moved(count=dead_letters.delete_all(runtime.queue, stream))


@router.get(
    "/dead-letters/{stream}/{id}",
    summary="One dead letter",
    responses={404: _NO_LETTER, 503: _DOWN},
)
def show_dead_letter(runtime: RuntimeDep, stream: StreamPath, id: LetterPath) -> DeadLetterPublic:
    """The letter as listed: what went wrong, and the job's fields without image bytes."""
    return DeadLetterPublic(**dead_letters.show(runtime.queue, stream, id))


@router.post(
    "/dead-letters/{stream}/{id}/requeue",
    summary="Requeue one dead letter",
    responses={404: _NO_LETTER, 503: _FULL},
)
def requeue_one(runtime: RuntimeDep, stream: StreamPath, id: LetterPath) -> Requeued:
    """Back onto its stream as a new message, atomically: it runs once more, and its job's
    row says `queued` again."""
    message_id = dead_letters.requeue(runtime, stream, id)
    return Requeued(stream=stream, id=id, message_id=message_id)


@router.delete(
    "/dead-letters/{stream}/{id}",
    summary="Delete one dead letter",
    status_code=204,
    responses={404: _NO_LETTER, 503: _DOWN},
)
def delete_one(runtime: RuntimeDep, stream: StreamPath, id: LetterPath) -> None:
    """Dropped for good; its job's row stays `failed`."""
    dead_letters.delete(runtime.queue, stream, id)


_STATUS_EXAMPLE: dict[str, Any] = {
    "time": "2026-12-05T16:20:00+00:00",
    "mode": "redis",
    "window_seconds": 900.0,
    "sample_seconds": 5.0,
    "queues": [
        {"stream": "captions:in", "service": "captioner", "depth": 3, "pending": 1, "dead": 1}
    ],
    "services": [
        {
            "service": "captioner",
            "totals": {"done": 1200, "retried": 4, "failed": 1},
            "window": {"done": 300, "retried": 0, "failed": 0},
            "jobs_per_second": 0.333,
            "workers": [
                {
                    "consumer": "w1:4242:captioner",
                    "last_beat": "2026-12-05T16:19:58+00:00",
                    "seconds_ago": 2.0,
                }
            ],
        }
    ],
    "routes": [
        {"route": "POST /api/images", "requests": 300, "p50_ms": 4.1, "p95_ms": 9.8, "p99_ms": 21.0}
    ],
    "cache": {"hits": 90, "misses": 10, "hit_rate": 0.9, "window_hit_rate": 0.95},
    "history": {
        "t": [1733415595.0, 1733415600.0],
        "depth": {"captions:in": [4, 3]},
        "dead": {"captions:in": [1, 1]},
        "jobs_per_second": {"captioner": [0.4, 0.2]},
        "failed_per_second": [0.0, 0.0],
        "latency_p95_ms": [9.1, None],
        "cache_hit_rate": [0.9, None],
    },
}


@router.get(
    "/status",
    summary="The operations dashboard's data",
    responses={200: {"content": {"application/json": {"example": _STATUS_EXAMPLE}}}},
)
def get_status(request: Request) -> dict[str, Any]:
    """Per queue: depth, pending, dead letters; per service: jobs by outcome, jobs/s and the
    workers alive with their last heartbeat; latency percentiles per route; the delivery
    cache's hit rate; and series of the last 15 minutes (a sample every 5 s) to draw."""
    ring = getattr(request.app.state, "status_ring", None) or status.Ring()
    return status.report(request.app.state, ring)
