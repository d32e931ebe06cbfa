"""Jobs accepted as the API accepts them, for the service tests."""

from __future__ import annotations

from datetime import UTC, datetime

from pixelmill.services import captions, faces
from pixelmill.services.accept import Job, accept
from pixelmill.services.resources import Resources
from tests.images import encode, photo


def accept_captions(runtime: Resources, count: int) -> list[str]:
    """COUNT uploads accepted as the API does: a queued row each, and a message on the inbox."""
    ids = []
    for i in range(count):
        id, now, data = f"{i:032x}", datetime.now(UTC), encode(photo(80, 60, seed=i), ".jpg")
        accept(
            runtime,
            Job(
                captions.INBOX,
                id,
                data,
                captions.accepted_message(id, data, f"кадр {i}", now),
                lambda s, id=id, now=now, i=i: runtime.repository.add(s, id, now, f"кадр {i}"),
                lambda s, id=id: runtime.repository.delete(s, id),
            ),
        )
        ids.append(id)
    return ids


def accept_faces(runtime: Resources, count: int) -> list[str]:
    """COUNT face uploads accepted as the API does: a queued row each, and a message."""
    ids = []
    repository = runtime.face_repository
    for i in range(count):
        id, now, data = f"f{i:031x}", datetime.now(UTC), encode(photo(120, 90, seed=i), ".jpg")
        name = f"photo {i}.jpg"
        accept(
            runtime,
            Job(
                faces.INBOX,
                id,
                data,
                faces.accepted_message(id, data, name, now),
                lambda s, id=id, now=now, name=name: repository.add(s, id, now, name, "jpeg"),
                lambda s, id=id: repository.delete(s, id),
            ),
        )
        ids.append(id)
    return ids
