"""The captioning pipeline's two services and the messages between them.

    POST /api/images ──► captions:in ──► captioner ──► captions:out ──► storer ──► DB row + file
                         (group captioner)             (group storer)

`captions:in` carries `id`, `image` (the upload's bytes), `description` (UTF-8) and
`received_at` (ISO 8601). The captioner adds the black band with the description and puts
the JPEG on `captions:out` with the same id, description and receive time, plus its size and
the processing time. The storer writes `captions/<id>.jpg` to the blob store (a local folder
or S3) and the database row, idempotently: a redelivered message rewrites the same file and
leaves one row.

A message that keeps failing (an image that cannot be decoded) is retried, then moved to the
dead-letter stream by the worker loop; on its last delivery the captioner first sends a
failure notice (`error`) down the line so that the row says `failed` instead of `queued`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pixelmill.imaging import codec
from pixelmill.imaging.ops.caption import CaptionParams, caption
from pixelmill.jobs.queue import JobQueue, Message
from pixelmill.storage.blobs import BlobStore
from pixelmill.storage.db import Database
from pixelmill.storage.repository import CaptionRepository

log = logging.getLogger(__name__)

INBOX = "captions:in"
OUTBOX = "captions:out"
CAPTIONER = "captioner"
STORER = "storer"
JPEG_QUALITY = 90


def accepted_message(
    id: str, image: bytes, description: str, received_at: datetime
) -> dict[str, bytes]:
    """The message the API puts on `captions:in`."""
    return {
        "id": id.encode(),
        "image": image,
        "description": description.encode("utf-8"),
        "received_at": received_at.isoformat().encode(),
    }


@dataclass
class Captioner:
    """Draws the description in a black band under the image."""

    queue: JobQueue
    font: str | None
    font_size: int
    overlay: bool
    max_pixels: int
    max_deliveries: int

    def __call__(self, message: Message) -> None:
        started = time.perf_counter()
        fields = message.fields
        id = fields["id"].decode()
        description = fields["description"].decode("utf-8")
        try:
            data = fields["image"]
            info = codec.sniff(data, max_pixels=self.max_pixels, name=f"image {id}")
            image = codec.decode(data, info, "color", f"image {id}")
            params = CaptionParams(
                text=description, font=self.font, size=self.font_size, overlay=self.overlay
            )
            result = caption(image, params)
            jpeg = codec.encode(result, "jpeg", quality=JPEG_QUALITY)
        except Exception as exc:
            if message.deliveries >= self.max_deliveries:
                self.queue.put(OUTBOX, {**_passed_on(fields), "error": repr(exc).encode()})
            raise
        self.queue.put(
            OUTBOX,
            {
                **_passed_on(fields),
                "image": jpeg,
                "width": str(result.shape[1]).encode(),
                "height": str(result.shape[0]).encode(),
                "processing_ms": f"{(time.perf_counter() - started) * 1000:.3f}".encode(),
            },
        )


@dataclass
class Storer:
    """Writes the captioned image and its row; safe to run twice on the same message."""

    database: Database
    repository: CaptionRepository
    blobs: BlobStore
    inbox_dir: Path | None = None  # the embedded mode's durable copies of uploads

    def __call__(self, message: Message) -> None:
        fields = message.fields
        id = fields["id"].decode()
        if "error" in fields:
            with self.database.session() as session:
                self.repository.mark(session, id, "failed", error=fields["error"].decode())
            log.error("caption %s failed: %s", id, fields["error"].decode())
            self._forget_upload(id)
            return
        key = f"captions/{id}.jpg"
        self.blobs.put(key, fields["image"], "image/jpeg")
        with self.database.session() as session:
            self.repository.store(
                session,
                id=id,
                received_at=datetime.fromisoformat(fields["received_at"].decode()),
                description=fields["description"].decode("utf-8"),
                file_path=key,
                size_bytes=len(fields["image"]),
                width=int(fields["width"]),
                height=int(fields["height"]),
                processing_ms=float(fields["processing_ms"]),
            )
        self._forget_upload(id)

    def _forget_upload(self, id: str) -> None:
        if self.inbox_dir is not None:
            (self.inbox_dir / id).unlink(missing_ok=True)


def _passed_on(fields: dict[str, bytes]) -> dict[str, bytes]:
    return {key: fields[key] for key in ("id", "description", "received_at")}
