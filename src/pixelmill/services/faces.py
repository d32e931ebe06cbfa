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
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pixelmill.events.broadcast import Broadcaster
from pixelmill.imaging import codec
from pixelmill.imaging.ops import output
from pixelmill.imaging.ops.faces import Face, FacesParams, detect, draw
from pixelmill.jobs.queue import Message
from pixelmill.services import inbox
from pixelmill.services.registry import FACES
from pixelmill.storage.blobs import BlobStore
from pixelmill.storage.db import Database
from pixelmill.storage.repository import FaceRepository

log = logging.getLogger(__name__)

INBOX = FACES.stream
CHANNEL = "faces"


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

    def __call__(self, message: Message) -> None:
        started = time.perf_counter()
        id = message.fields["id"].decode()
        try:
            data = message.fields["image"]
            info = codec.sniff(data, max_pixels=self.max_pixels, name=f"image {id}")
            image = codec.decode(data, info, "color", f"image {id}")
            found = detect(image, self.params)
            boxed = draw(image, found, self.params)
            out = output.choose(output.OutputOptions(), input=info)  # the input's, or PNG
            encoded = codec.encode(boxed, out.format.name, quality=out.quality)
        except Exception as exc:
            if message.deliveries >= self.max_deliveries:
                with self.database.session() as session:
                    self.repository.mark(session, id, "failed", error=repr(exc))
                inbox.forget(self.inbox_dir, id)
            raise
        key = f"faces/{id}{out.format.extension}"
        self.blobs.put(key, encoded, out.format.media_type)
        boxes = [_box(face) for face in found]
        height, width = boxed.shape[:2]
        with self.database.session() as session:
            changed = self.repository.store(
                session,
                id=id,
                width=width,
                height=height,
                faces=boxes,
                detector="yunet" if self.params.model else "haar",
                file_path=key,
                size_bytes=len(encoded),
                processing_ms=(time.perf_counter() - started) * 1000,
            )
        inbox.forget(self.inbox_dir, id)
        if changed:
            self._announce(id, len(found), width, height, message.fields["created_at"].decode())

    def _announce(self, id: str, count: int, width: int, height: int, created_at: str) -> None:
        event = {
            "id": id,
            "url": image_url(id),
            "meta_url": image_url(id) + "/meta",
            "faces": count,
            "width": width,
            "height": height,
            "created_at": created_at,
            "stored_at": datetime.now(UTC).isoformat(),
        }
        try:
            self.broadcaster.publish(CHANNEL, json.dumps(event))
        except Exception:  # the result is stored and served; only the live notice is lost
            log.exception("could not announce image %s on the %s channel", id, CHANNEL)


def _box(face: Face) -> dict[str, float | int | None]:
    """A face as plain JSON numbers (OpenCV hands out numpy ones)."""
    score = None if face.score is None else float(face.score)
    return {
        "x": int(face.x),
        "y": int(face.y),
        "width": int(face.width),
        "height": int(face.height),
        "score": score,
    }
