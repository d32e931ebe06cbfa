"""Runtime.accept: a job is recorded and queued whole, or not at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter
from pixelmill.services import faces
from pixelmill.services.runtime import Runtime
from tests.images import encode, photo


@pytest.mark.postgres
def test_a_row_the_database_refuses_is_a_422_and_nothing_is_kept(
    make_settings: Callable[..., Settings], database_url: Callable[[str], str]
) -> None:
    runtime = Runtime.open(make_settings(database_url=database_url("postgresql")))
    try:
        data = encode(photo(40, 30, seed=2), ".jpg")
        now = datetime.now(UTC)
        repository = runtime.face_repository
        with pytest.raises(InvalidParameter, match="cannot store"):
            runtime.accept(
                faces.INBOX,
                "a" * 32,
                data,
                faces.accepted_message("a" * 32, data, "nul\x00name.jpg", now),
                lambda s: repository.add(s, "a" * 32, now, "nul\x00name.jpg", "jpeg"),
                lambda s: repository.delete(s, "a" * 32),
            )
        with runtime.database.session() as session:
            assert repository.get(session, "a" * 32) is None
        assert runtime.queue.depth(faces.INBOX) == 0
        assert not runtime.inbox_dir or not (runtime.inbox_dir / ("a" * 32)).exists()
    finally:
        runtime.close()
