"""The face-detection service, and the events it publishes.

    POST /api/v1/images ──► faces:in ──► faces service ──► file + DB row ──► event "faces"
                            (group faces)                                    │
              every API process: one subscription ──► its websocket clients on /faces

`faces:in` carries `id`, `image` (the upload's bytes), `filename` and `created_at`. The service
decodes the image upright, detects faces, draws a box around each, writes
`faces/<id>.<jpg|png|webp>` (the input's format when pixelmill writes it, else PNG) to the
blob store and the row with the boxes, then publishes
`{"id", "url", "meta_url", "faces": <count>, "width", "height", "created_at", "stored_at"}` on the
`faces` channel. An event is published when the row becomes stored, so a redelivered message
does not announce the same image twice (at most once if the process dies between the two).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelmill.events.broadcast import Broadcaster
from pixelmill.execution.pipeline import isolated
from pixelmill.imaging import codec
from pixelmill.imaging.ops.faces import FacesParams
from pixelmill.jobs.queue import Message
from pixelmill.services import inbox
from pixelmill.services.pixels import Boxed, PixelWork, box_faces
from pixelmill.services.registry import FACES
from pixelmill.storage.blobs import BlobStore, put_many
from pixelmill.storage.db import Database
from pixelmill.storage.repository import FaceRepository

if TYPE_CHECKING:
    from pixelmill.execution.pools import Pools

log = logging.getLogger(__name__)

INBOX = FACES.stream
CHANNEL = "faces"
FacesJob = tuple[bytes, codec.ImageInfo, FacesParams, str]  # box_faces' arguments


def image_url(id: str) -> str:
    return f"/api/v1/images/{id}"


def accepted_message(
    id: str, image: bytes, filename: str | None, created_at: datetime
) -> dict[str, bytes]:
    """The message the API puts on `faces:in`."""
    return {
        "id": id.encode(),
        "image": image,
        "filename": (filename or "").encode("utf-8"),
        "created_at": created_at.isoformat().encode(),
    }


@dataclass
class FaceService:
    """Detects faces, stores the boxed image and its metadata, announces it."""

    database: Database
    repository: FaceRepository
    blobs: BlobStore
    broadcaster: Broadcaster
    params: FacesParams
    max_pixels: int
    max_deliveries: int
    inbox_dir: Path | None = None
    threads: int = 1  # a batch's images are boxed on this many threads
    pools: Pools | None = None  # in `pixelmill serve`: the API's pools do the pixel work
    _work: PixelWork = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._work = PixelWork(self.pools, self.threads, "pixelmill-faces")

    def __call__(self, message: Message) -> None:
        id = message.fields["id"].decode()
        try:
            (boxed,) = self._work.map(box_faces, *self._jobs([message]))
        except Exception as exc:
            if message.deliveries >= self.max_deliveries:
                with self.database.session() as session:
                    self.repository.mark(session, id, "failed", error=repr(exc))
                inbox.forget(self.inbox_dir, id)
            raise
        self._store([message], [boxed])

    def many(self, messages: Sequence[Message]) -> None:
        """Box every image, write the files, then every row in one transaction.

        A batch that fails is handled again one at a time (`pixelmill.jobs.worker`), and the
        message at fault is marked failed on its last delivery then."""
        self._store(messages, self._work.map(box_faces, *self._jobs(messages)))

    def close(self) -> None:
        """Let the batch threads go (after the worker loop has stopped)."""
        self._work.close()

    def _jobs(self, messages: Sequence[Message]) -> tuple[list[FacesJob], list[bool]]:
        """`box_faces`' arguments for each message (its header read here), and whether each
        is to be isolated."""
        jobs, isolate = [], []
        for message in messages:
            data, name = message.fields["image"], f"image {message.fields['id'].decode()}"
            info = codec.sniff(data, max_pixels=self.max_pixels, name=name)
            jobs.append((data, info, self.params, name))
            isolate.append(isolated(info))
        return jobs, isolate

    def _store(self, messages: Sequence[Message], results: Sequence[Boxed]) -> None:
        done = list(zip(messages, results, strict=True))
        put_many(self.blobs, {_key(m, b): (b.encoded, b.media_type) for m, b in done})
        with self.database.session() as session:  # one statement for the batch
            changed = self.repository.store_many(session, [self._row(m, b) for m, b in done])
        for message, _ in done:
            inbox.forget(self.inbox_dir, message.fields["id"].decode())
        for message, boxed in done:
            if message.fields["id"].decode() in changed:
                self._announce(message, boxed)

    def _row(self, message: Message, boxed: Boxed) -> dict[str, Any]:
        """The row of a boxed image, as `FaceRepository.store` takes it."""
        return {
            "id": message.fields["id"].decode(),
            "width": boxed.width,
            "height": boxed.height,
            "faces": boxed.faces,
            "detector": "yunet" if self.params.model else "haar",
            "file_path": _key(message, boxed),
            "size_bytes": len(boxed.encoded),
            "processing_ms": boxed.processing_ms,
        }

    def _announce(self, message: Message, boxed: Boxed) -> None:
        id = message.fields["id"].decode()
        event = {
            "id": id,
            "url": image_url(id),
            "meta_url": image_url(id) + "/meta",
            "faces": len(boxed.faces),
            "width": boxed.width,
            "height": boxed.height,
            "created_at": message.fields["created_at"].decode(),
            "stored_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.broadcaster.publish(CHANNEL, json.dumps(event))
        except Exception:  # the result is stored and served; only the live notice is lost
            log.exception("could not announce image %s on the %s channel", id, CHANNEL)


def _key(message: Message, boxed: Boxed) -> str:
    return f"faces/{message.fields['id'].decode()}{boxed.extension}"
