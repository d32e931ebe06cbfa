"""Jobs accepted as the API accepts them, for the service tests."""

from __future__ import annotations

from datetime import UTC, datetime

from pixelmill.services import captions
from pixelmill.services.accept import accept
from pixelmill.services.resources import Resources
from tests.images import encode, photo


def accept_captions(runtime: Resources, count: int) -> list[str]:
    """COUNT uploads accepted as the API does: a queued row each, and a message on the inbox."""
    ids = []
    for i in range(count):
        id, now, data = f"{i:032x}", datetime.now(UTC), encode(photo(80, 60, seed=i), ".jpg")
        accept(
            runtime,
            captions.INBOX,
            id,
            data,
            captions.accepted_message(id, data, f"кадр {i}", now),
            lambda s, id=id, now=now, i=i: runtime.repository.add(s, id, now, f"кадр {i}"),
            lambda s, id=id: runtime.repository.delete(s, id),
        )
        ids.append(id)
    return ids
