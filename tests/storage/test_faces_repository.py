"""The face images repository on both databases: rows written, read back, raced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pixelmill.storage.db import Database
from pixelmill.storage.models import Face, FaceImage
from pixelmill.storage.repository import FaceRepository
from tests.storage.race import race

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
FACES: list[Face] = [
    {"x": 10, "y": 20, "width": 64, "height": 64, "score": 0.9876543210123},
    {"x": 200, "y": 15, "width": 48, "height": 50, "score": None},
    {"x": 0, "y": 0, "width": 1, "height": 1, "score": 1.0},
]
repository = FaceRepository()


def ident(n: int) -> str:
    return f"{n:032x}"


def result(id: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": id,
        "width": 320,
        "height": 240,
        "faces": FACES,
        "detector": "yunet",
        "file_path": f"/faces/{id}.jpg",
        "size_bytes": 23456,
        "processing_ms": 41.5,
    }
    return values | overrides


def add(db: Database, *ids: str, at: datetime = T0) -> None:
    with db.session() as session:
        for id in ids:
            repository.add(session, id, at, f"{id}.png", "png")


def read(db: Database, id: str) -> FaceImage | None:
    with db.session() as session:  # a new session: values from the database, not from memory
        return repository.get(session, id)


def test_add_and_get(db: Database) -> None:
    with db.session() as session:
        repository.add(session, ident(1), T0, "Фото с отпуска.JPG", "jpeg")
        repository.add(session, ident(2), T0, None, None)
    row = read(db, ident(1))
    assert row is not None
    assert (row.id, row.status, row.created_at) == (ident(1), "queued", T0)
    assert (row.filename, row.format) == ("Фото с отпуска.JPG", "jpeg")
    assert (row.width, row.height, row.faces, row.face_count, row.detector) == (None,) * 5
    assert (row.file_path, row.size_bytes, row.processing_ms, row.error) == (None,) * 4
    row = read(db, ident(2))
    assert row is not None and (row.filename, row.format) == (None, None)
    assert read(db, ident(404)) is None


def test_no_faces_yet_is_sql_null(db: Database) -> None:
    add(db, ident(1))
    with db.session() as session:
        assert session.scalar(text("SELECT faces IS NULL FROM face_images")) in (True, 1)


def test_a_duplicate_id_is_refused(db: Database) -> None:
    add(db, ident(1))
    with pytest.raises(IntegrityError):
        add(db, ident(1))


def test_timestamps_come_back_aware_and_equal(db: Database) -> None:
    add(db, ident(1), at=T0.astimezone(timezone(timedelta(hours=3))))
    row = read(db, ident(1))
    assert row is not None
    assert row.created_at == T0 and row.created_at.utcoffset() == timedelta(0)
    assert row.created_at.microsecond == 123456
    assert row.updated_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - row.updated_at) < timedelta(minutes=1)


def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        add(db, ident(1), at=datetime(2026, 3, 1, 12))
    assert read(db, ident(1)) is None


def test_list_is_newest_first_with_limit_offset_total_and_status(db: Database) -> None:
    # ids 0..5, one second apart; 6 and 7 share 0's upload time: the larger id comes first
    for n in range(6):
        add(db, ident(n), at=T0 + timedelta(seconds=n))
    add(db, ident(7), ident(6))
    newest_first = [ident(n) for n in (5, 4, 3, 2, 1, 7, 6, 0)]
    with db.session() as session:
        repository.store(session, **result(ident(4)))
        repository.store(session, **result(ident(7)))
        repository.mark(session, ident(2), "failed", error="not an image")

    with db.session() as session:
        rows, total = repository.list(session)
        assert [r.id for r in rows] == newest_first and total == 8
        rows, total = repository.list(session, limit=3, offset=2)
        assert [r.id for r in rows] == newest_first[2:5] and total == 8
        rows, total = repository.list(session, limit=5, offset=50)
        assert rows == [] and total == 8
        rows, total = repository.list(session, status="stored", limit=1, offset=1)
        assert [r.id for r in rows] == [ident(7)] and total == 2
        rows, total = repository.list(session, status="queued")
        assert [r.id for r in rows] == [ident(n) for n in (5, 3, 1, 6, 0)] and total == 5
        rows, total = repository.list(session, status="failed")
        assert [r.id for r in rows] == [ident(2)] and total == 1
        with pytest.raises(ValueError):
            repository.list(session, status="done")
        with pytest.raises(ValueError):
            repository.list(session, limit=-1)


@pytest.mark.parametrize("faces", [FACES, []], ids=["three", "none"])
def test_faces_round_trip_as_json(db: Database, faces: list[Face]) -> None:
    add(db, ident(1))
    with db.session() as session:
        assert repository.store(session, **result(ident(1), faces=faces))
    row = read(db, ident(1))
    assert row is not None
    assert row.faces == faces and row.face_count == len(faces)
    # ints stay ints, floats keep every digit, a missing score stays None
    for got, sent in zip(row.faces, faces, strict=True):
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in sent.items()}


def test_store_finishes_the_row_the_api_added(db: Database) -> None:
    add(db, ident(1))
    with db.session() as session:
        assert repository.mark(session, ident(1), "processing")
        assert repository.mark(session, ident(1), "failed", error="first try failed")
        assert repository.mark(session, ident(1), "processing")
    with db.session() as session:
        assert repository.store(session, **result(ident(1)))
    row = read(db, ident(1))
    assert row is not None
    assert (row.status, row.error, row.detector, row.face_count) == ("stored", None, "yunet", 3)
    assert (row.width, row.height, row.file_path, row.size_bytes, row.processing_ms) == (
        320,
        240,
        f"/faces/{ident(1)}.jpg",
        23456,
        41.5,
    )
    # as the API recorded them
    assert (row.created_at, row.filename, row.format) == (T0, f"{ident(1)}.png", "png")
    assert row.updated_at > row.created_at


def test_store_is_idempotent(db: Database) -> None:
    add(db, ident(1))
    with db.session() as session:
        assert repository.store(session, **result(ident(1))) is True
    first = read(db, ident(1))
    with db.session() as session:
        again = result(ident(1), faces=[], detector="haar", file_path="/elsewhere")
        assert repository.store(session, **again) is False
    second = read(db, ident(1))
    assert first is not None and second is not None
    assert (second.faces, second.detector, second.file_path, second.updated_at) == (
        first.faces,
        first.detector,
        first.file_path,
        first.updated_at,
    )
    with db.session() as session:
        assert repository.count(session) == 1


def test_store_keeps_the_session_up_to_date(db: Database) -> None:
    with db.session() as session:
        row = repository.add(session, ident(1), T0, "a.png", "png")
        assert repository.store(session, **result(ident(1)))
        assert (row.status, row.faces, row.face_count) == ("stored", FACES, 3)


def test_store_without_the_api_row_inserts_it(db: Database) -> None:
    with db.session() as session:
        assert repository.store(session, **result(ident(1))) is True
    row = read(db, ident(1))
    assert row is not None
    assert (row.status, row.faces, row.filename, row.format) == ("stored", FACES, None, None)
    assert row.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - row.created_at) < timedelta(minutes=1)


def store(db: Database, id: str) -> bool:
    with db.session() as session:
        return repository.store(session, **result(id))


@pytest.mark.parametrize("prior", ["none", "queued"])
def test_storers_racing_on_one_id_leave_one_row(db: Database, prior: str) -> None:
    for n in range(5):
        if prior == "queued":
            add(db, ident(n))
        assert sorted(race(8, partial(store, db, ident(n)))) == [False] * 7 + [True]
    with db.session() as session:
        assert repository.count(session) == 5
        assert repository.count(session, "stored") == 5


def test_mark_moves_queued_and_processing_rows(db: Database) -> None:
    add(db, ident(1))
    # failed keeps its error; taking a failed image up again clears it
    for status, error in [("processing", None), ("failed", "cannot decode"), ("processing", None)]:
        with db.session() as session:
            assert repository.mark(session, ident(1), status, error=error)
        row = read(db, ident(1))
        assert row is not None and (row.status, row.error) == (status, error)

    with db.session() as session:
        assert repository.mark(session, ident(404), "failed") is False
        with pytest.raises(ValueError):
            repository.mark(session, ident(1), "done")
        with pytest.raises(ValueError):
            repository.mark(session, ident(1), "stored")


def test_a_stored_row_is_final(db: Database) -> None:
    with db.session() as session:
        assert repository.store(session, **result(ident(1)))
    with db.session() as session:
        assert repository.mark(session, ident(1), "processing") is False
        assert repository.mark(session, ident(1), "failed", error="late") is False
    row = read(db, ident(1))
    assert row is not None and (row.status, row.error, row.face_count) == ("stored", None, 3)


def test_unfinished_are_queued_and_processing_oldest_first(db: Database) -> None:
    for n in range(5):
        add(db, ident(n), at=T0 - timedelta(minutes=n))
    with db.session() as session:
        repository.mark(session, ident(0), "processing")
        repository.mark(session, ident(1), "failed", error="broken")
        repository.store(session, **result(ident(2)))
    with db.session() as session:
        assert [r.id for r in repository.unfinished(session)] == [ident(4), ident(3), ident(0)]


def test_delete(db: Database) -> None:
    add(db, ident(1), ident(2))
    with db.session() as session:
        assert repository.delete(session, ident(1)) is True
        assert repository.delete(session, ident(404)) is False
    assert read(db, ident(1)) is None
    with db.session() as session:
        assert [r.id for r in repository.list(session)[0]] == [ident(2)]


def test_nothing_is_written_when_the_caller_fails(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        repository.add(session, ident(1), T0, "a.png", "png")
        raise RuntimeError("the queue said no")
    assert read(db, ident(1)) is None


def test_the_database_enforces_the_status_values(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(FaceImage(id=ident(1), created_at=T0, status="lost"))
