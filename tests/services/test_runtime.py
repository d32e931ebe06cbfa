"""Runtime.accept: a job is recorded and queued whole, or not at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter
from pixelmill.services import faces
from pixelmill.services.accept import Job, accept
from pixelmill.services.runtime import Runtime
from tests.images import encode, photo
from tests.jobs.waiting import wait_until
from tests.services.accepting import accept_captions


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
            accept(
                runtime,
                Job(
                    faces.INBOX,
                    "a" * 32,
                    data,
                    faces.accepted_message("a" * 32, data, "nul\x00name.jpg", now),
                    lambda s: repository.add(s, "a" * 32, now, "nul\x00name.jpg", "jpeg"),
                    lambda s: repository.delete(s, "a" * 32),
                ),
            )
        with runtime.database.session() as session:
            assert repository.get(session, "a" * 32) is None
        assert runtime.queue.depth(faces.INBOX) == 0
        assert not runtime.inbox_dir or not (runtime.inbox_dir / ("a" * 32)).exists()
    finally:
        runtime.close()


def test_a_backlog_larger_than_the_queue_is_queued_again_as_room_is_made(
    make_settings: Callable[..., Settings],
) -> None:
    """Embedded mode after a crash: 6 jobs accepted, none stored, and a queue bound of 2."""
    before = Runtime.open(make_settings(queue_max_length=10))
    ids = accept_captions(before, 6)
    before.close()  # the in-memory queue is gone with it; rows and inbox copies stay

    after = Runtime.open(make_settings(queue_max_length=2))
    try:
        after.start_workers()
        after.start_requeue()  # returns at once: the start is not held up

        def stored() -> bool:
            with after.database.session() as session:
                rows = [after.repository.get(session, id) for id in ids]
            return all(row is not None and row.status == "stored" for row in rows)

        wait_until(stored, "every job stored", timeout=60)
    finally:
        after.close()


def test_a_job_cut_off_between_its_row_and_its_upload_is_failed_not_queued_for_ever(
    make_settings: Callable[..., Settings],
) -> None:
    """A stop (kill -9) after the row was recorded and before the upload was kept: the client
    got no 202. At the next start that row is marked failed with a reason; the others run."""
    before = Runtime.open(make_settings())
    kept, cut = accept_captions(before, 2)
    assert before.inbox_dir is not None
    (before.inbox_dir / cut).unlink()  # as if the process had died before keeping it
    before.close()

    after = Runtime.open(make_settings())
    try:
        after.start_workers()
        after.start_requeue()

        def settled() -> bool:
            with after.database.session() as session:
                rows = [after.repository.get(session, id) for id in (kept, cut)]
            return [row.status if row else None for row in rows] == ["stored", "failed"]

        wait_until(settled, "the kept job stored and the cut-off one failed", timeout=60)
        with after.database.session() as session:
            row = after.repository.get(session, cut)
            assert row is not None and row.error and "never accepted" in row.error
            assert after.repository.unfinished(session) == []
    finally:
        after.close()
