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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import codec
from pixelmill.imaging.ops.caption import MAX_PADDING, CaptionParams, caption_sizes
from pixelmill.jobs.queue import JobQueue, Message
from pixelmill.services import inbox
from pixelmill.services.pixels import CAPTION_OUTPUT, Captioned, PixelWork, caption_jpeg
from pixelmill.services.registry import CAPTIONER, STORER
from pixelmill.storage.blobs import BlobStore, put_many
from pixelmill.storage.db import Database
from pixelmill.storage.repository import CaptionRepository

if TYPE_CHECKING:
    from pixelmill.execution.pools import Pools

log = logging.getLogger(__name__)
CaptionJob = tuple[bytes, CaptionParams, int, str]  # caption_jpeg's arguments

INBOX = CAPTIONER.stream
OUTBOX = STORER.stream


def check_captionable(
    info: codec.ImageInfo, description: str, font: str | None, font_size: int, overlay: bool
) -> None:
    """422 now for an image whose captioned JPEG could not be made: accepted, it would only
    fail in the captioner, five times, and end `failed`."""
    # A band is at most a line per character, and a line well under 4 × the font size: far
    # from the limit, the layout (0.5 ms of text measuring) is not worth making.
    worst_band = (len(description) + 2) * 4 * font_size + 2 * MAX_PADDING
    if info.width <= codec.JPEG_MAX_SIDE and info.height + worst_band <= codec.JPEG_MAX_SIDE:
        return
    params = CaptionParams(text=description, font=font, size=font_size, overlay=overlay)
    ((width, height),) = caption_sizes((info.width, info.height), params)
    if max(width, height) > codec.JPEG_MAX_SIDE:
        raise InvalidParameter(
            f"the captioned image would be {width}×{height} pixels, and a JPEG (the format "
            f"captions are stored in) holds at most {codec.JPEG_MAX_SIDE} pixels a side"
        )


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
    threads: int = 1  # a batch is captioned on this many threads (OpenCV and Pillow let go
    # of the GIL while they decode, draw and encode)
    pools: Pools | None = None  # in `pixelmill serve`: the API's pools do the pixel work
    _work: PixelWork = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._work = PixelWork(self.pools, self.threads, "pixelmill-caption")

    def __call__(self, message: Message) -> None:
        try:
            (captioned,) = self._work.map(caption_jpeg, *self._jobs([message]))
        except Exception as exc:
            if message.deliveries >= self.max_deliveries:
                fields = message.fields
                self.queue.put(OUTBOX, {**_passed_on(fields), "error": repr(exc).encode()})
            raise
        self.queue.put(OUTBOX, _result(message, captioned))

    def many(self, messages: Sequence[Message]) -> None:
        """Caption every message, then put the results on `captions:out` in one call.

        No failure notice here: a batch that fails is handled again one at a time, and the
        message at fault sends its notice then."""
        done = self._work.map(caption_jpeg, *self._jobs(messages))
        self.queue.put_many(OUTBOX, [_result(m, c) for m, c in zip(messages, done, strict=True)])

    def close(self) -> None:
        """Let the batch threads go (after the worker loop has stopped)."""
        self._work.close()

    def _jobs(self, messages: Sequence[Message]) -> tuple[list[CaptionJob], list[bool]]:
        """`caption_jpeg`'s arguments for each message, each to run apart from the server
        (`Pools.run`'s isolate): the text layout holds the GIL for about half a caption, so on
        a thread beside the event loop it would slow every request the server answers."""
        jobs = []
        for message in messages:
            fields = message.fields
            params = CaptionParams(
                text=fields["description"].decode("utf-8"),
                font=self.font,
                size=self.font_size,
                overlay=self.overlay,
            )
            name = f"image {fields['id'].decode()}"
            jobs.append((fields["image"], params, self.max_pixels, name))
        return jobs, [True] * len(jobs)


def _result(message: Message, captioned: Captioned) -> dict[str, bytes]:
    return {
        **_passed_on(message.fields),
        "image": captioned.jpeg,
        "width": str(captioned.width).encode(),
        "height": str(captioned.height).encode(),
        "processing_ms": f"{captioned.processing_ms:.3f}".encode(),
    }


@dataclass
class Storer:
    """Writes the captioned image and its row; safe to run twice on the same message."""

    database: Database
    repository: CaptionRepository
    blobs: BlobStore
    inbox_dir: Path | None = None  # the embedded mode's durable copies of uploads

    def __call__(self, message: Message) -> None:
        self.many([message])

    def many(self, messages: Sequence[Message]) -> None:
        """Write every captioned image, then every row in one transaction."""
        images = {
            _key(m): (m.fields["image"], "image/jpeg") for m in messages if "error" not in m.fields
        }
        put_many(self.blobs, images)
        with self.database.session() as session:
            stored = []
            for message in messages:
                fields = message.fields
                if "error" not in fields:
                    stored.append(_row(message))
                    continue
                id, error = fields["id"].decode(), fields["error"].decode()
                self.repository.mark(session, id, "failed", error=error)
                log.error("caption %s failed: %s", id, error)
            self.repository.store_many(session, stored)  # one statement for the batch
        for message in messages:
            inbox.forget(self.inbox_dir, message.fields["id"].decode())


def _row(message: Message) -> dict[str, Any]:
    """The row of a captioned image, as `CaptionRepository.store` takes it."""
    fields = message.fields
    return {
        "id": fields["id"].decode(),
        "received_at": datetime.fromisoformat(fields["received_at"].decode()),
        "description": fields["description"].decode("utf-8"),
        "file_path": _key(message),
        "size_bytes": len(fields["image"]),
        "width": int(fields["width"]),
        "height": int(fields["height"]),
        "processing_ms": float(fields["processing_ms"]),
    }


def _key(message: Message) -> str:
    return f"captions/{message.fields['id'].decode()}{CAPTION_OUTPUT.format.extension}"


def _passed_on(fields: dict[str, bytes]) -> dict[str, bytes]:
    return {key: fields[key] for key in ("id", "description", "received_at")}
