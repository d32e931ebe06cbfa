"""The captions repository on both databases: rows written, read back, raced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from pixelmill.storage.db import Database
from pixelmill.storage.models import Caption, Status
from pixelmill.storage.repository import CaptionRepository
from tests.storage.race import race

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CYRILLIC = ("Съешь же ещё этих мягких французских булок, да выпей же чаю. " * 4)[:200]
repository = CaptionRepository()


def ident(n: int) -> str:
    return f"{n:032x}"


def stored(id: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": id,
        "received_at": T0,
        "description": "a cat",
        "file_path": f"/images/{id}.jpg",
        "size_bytes": 12345,
        "width": 320,
        "height": 260,
        "processing_ms": 12.5,
    }
    return values | overrides


def add(db: Database, *rows: tuple[str, datetime, str]) -> None:
    with db.session() as session:
        for id, received_at, description in rows:
            repository.add(session, id, received_at, description)


def read(db: Database, id: str) -> Caption | None:
    with db.session() as session:  # a new session: values from the database, not from memory
        return repository.get(session, id)


def test_add_and_get(db: Database) -> None:
    add(db, (ident(1), T0, "a cat"))
    row = read(db, ident(1))
    assert row is not None
    assert (row.id, row.received_at, row.description) == (ident(1), T0, "a cat")
    assert (row.status, row.attempts, row.file_path, row.error) == ("queued", 0, None, None)
    assert read(db, ident(2)) is None


def test_a_duplicate_id_is_refused(db: Database) -> None:
    add(db, (ident(1), T0, "a cat"))
    with pytest.raises(IntegrityError):
        add(db, (ident(1), T0, "another cat"))


def test_cyrillic_description_of_200_characters_round_trips(db: Database) -> None:
    assert len(CYRILLIC) == 200
    add(db, (ident(1), T0, CYRILLIC))
    row = read(db, ident(1))
    assert row is not None and row.description == CYRILLIC


def test_timestamps_come_back_aware_and_equal(db: Database) -> None:
    moscow = T0.astimezone(timezone(timedelta(hours=3)))
    add(db, (ident(1), moscow, "a cat"))
    row = read(db, ident(1))
    assert row is not None
    assert row.received_at == T0 and row.received_at.utcoffset() == timedelta(0)
    assert row.received_at.microsecond == 123456
    for moment in (row.created_at, row.updated_at):
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        add(db, (ident(1), datetime(2026, 3, 1, 12), "a cat"))
    with pytest.raises((ValueError, StatementError)), db.session() as session:
        session.add(
            Caption(id=ident(2), received_at=datetime(2026, 3, 1), description="x", status="queued")
        )


def test_list_is_newest_first_with_limit_offset_total_and_status(db: Database) -> None:
    # ids 0..5, one second apart; 6 and 7 share 0's receive time: the larger id comes first
    add(db, *[(ident(n), T0 + timedelta(seconds=n), f"picture {n}") for n in range(6)])
    add(db, (ident(7), T0, "same time, larger id"), (ident(6), T0, "same time"))
    newest_first = [ident(n) for n in (5, 4, 3, 2, 1, 7, 6, 0)]
    with db.session() as session:
        repository.store(session, **stored(ident(4)))
        repository.store(session, **stored(ident(7)))
        repository.mark(session, ident(2), "failed", error="broken")

    with db.session() as session:
        rows, total = repository.list(session, status=None, limit=100, offset=0)
        assert [r.id for r in rows] == newest_first and total == 8
        rows, total = repository.list(session, status=None, limit=3, offset=2)
        assert [r.id for r in rows] == newest_first[2:5] and total == 8
        rows, total = repository.list(session, status=None, limit=5, offset=7)
        assert [r.id for r in rows] == newest_first[7:] and total == 8
        rows, total = repository.list(session, status=None, limit=5, offset=50)
        assert rows == [] and total == 8
        rows, total = repository.list(session, status="stored", limit=100, offset=0)
        assert [r.id for r in rows] == [ident(4), ident(7)] and total == 2
        rows, total = repository.list(session, status=Status.STORED, limit=1, offset=1)
        assert [r.id for r in rows] == [ident(7)] and total == 2
        rows, total = repository.list(session, status="queued", limit=100, offset=0)
        assert [r.id for r in rows] == [ident(n) for n in (5, 3, 1, 6, 0)] and total == 5
        assert repository.count(session) == 8
        assert repository.count(session, "failed") == 1
        assert repository.count(session, "processing") == 0


def test_mark_processing_counts_attempts_and_failed_keeps_the_error(db: Database) -> None:
    add(db, (ident(1), T0, "a cat"))
    with db.session() as session:
        assert repository.mark(session, ident(1), "processing")
    with db.session() as session:
        assert repository.mark(session, ident(1), Status.PROCESSING)
    row = read(db, ident(1))
    assert row is not None and (row.status, row.attempts) == ("processing", 2)

    with db.session() as session:
        assert repository.mark(session, ident(1), "failed", error="not an image")
    row = read(db, ident(1))
    assert row is not None and (row.status, row.error, row.attempts) == (
        "failed",
        "not an image",
        2,
    )
    assert row.updated_at >= row.created_at

    with db.session() as session:
        assert repository.mark(session, ident(404), "failed") is False
        with pytest.raises(ValueError):
            repository.mark(session, ident(1), "done")
        with pytest.raises(ValueError):
            repository.mark(session, ident(1), "stored")


def test_a_stored_row_is_final(db: Database) -> None:
    with db.session() as session:
        assert repository.store(session, **stored(ident(1)))
    with db.session() as session:
        assert repository.mark(session, ident(1), "processing") is False
        assert repository.mark(session, ident(1), "failed", error="late") is False
    row = read(db, ident(1))
    assert row is not None and (row.status, row.error, row.attempts) == ("stored", None, 0)


def test_store_finishes_the_row_the_api_added(db: Database) -> None:
    add(db, (ident(1), T0, CYRILLIC))
    with db.session() as session:
        repository.mark(session, ident(1), "processing")
        repository.mark(session, ident(1), "failed", error="first try failed")
        repository.mark(session, ident(1), "processing")
    with db.session() as session:
        assert repository.store(session, **stored(ident(1), description="ignored"))
    row = read(db, ident(1))
    assert row is not None
    assert (row.status, row.error, row.attempts) == ("stored", None, 2)
    assert (row.file_path, row.size_bytes, row.width, row.height, row.processing_ms) == (
        f"/images/{ident(1)}.jpg",
        12345,
        320,
        260,
        12.5,
    )
    assert (row.received_at, row.description) == (T0, CYRILLIC)  # as the API recorded them


def test_store_is_idempotent(db: Database) -> None:
    add(db, (ident(1), T0, "a cat"))
    with db.session() as session:
        assert repository.store(session, **stored(ident(1))) is True
    first = read(db, ident(1))
    with db.session() as session:
        assert repository.store(session, **stored(ident(1), file_path="/elsewhere")) is False
    second = read(db, ident(1))
    assert first is not None and second is not None
    assert (second.file_path, second.updated_at) == (first.file_path, first.updated_at)
    with db.session() as session:
        assert repository.count(session) == 1


def test_store_keeps_the_session_up_to_date(db: Database) -> None:
    with db.session() as session:
        row = repository.add(session, ident(1), T0, "a cat")
        assert repository.store(session, **stored(ident(1)))
        assert row.status == "stored" and row.file_path == f"/images/{ident(1)}.jpg"


def test_store_without_the_api_row_inserts_it(db: Database) -> None:
    with db.session() as session:
        assert repository.store(session, **stored(ident(1), description=CYRILLIC)) is True
    row = read(db, ident(1))
    assert row is not None
    assert (row.status, row.received_at, row.description) == ("stored", T0, CYRILLIC)
    assert row.created_at.utcoffset() == timedelta(0)


def test_store_many_writes_a_batch_in_one_statement(db: Database) -> None:
    """A queued row, a lost one, a stored one and an id given twice, in one batch."""
    add(db, (ident(1), T0, "a cat"), (ident(3), T0, "a dog"))
    with db.session() as session:
        assert repository.store(session, **stored(ident(3), file_path="/first"))
    batch = [
        stored(ident(1)),
        stored(ident(2), description=CYRILLIC),
        stored(ident(3), file_path="/again"),
        stored(ident(4), width=1),
        stored(ident(4), width=2),
    ]
    with db.session() as session:
        assert repository.store_many(session, batch) == {ident(1), ident(2), ident(4)}
    rows = {}
    for n in range(1, 5):
        row = read(db, ident(n))
        assert row is not None and row.status == "stored", n
        rows[n] = row
    assert (rows[1].description, rows[1].file_path) == ("a cat", f"/images/{ident(1)}.jpg")
    assert (rows[2].description, rows[2].received_at) == (CYRILLIC, T0)  # the lost row
    assert rows[3].file_path == "/first"  # a stored row is final
    assert rows[4].width == 2  # the last one given
    with db.session() as session:
        assert repository.count(session) == 4
        assert repository.store_many(session, []) == set()


def store(db: Database, id: str) -> bool:
    with db.session() as session:
        return repository.store(session, **stored(id))


@pytest.mark.parametrize("prior", ["none", "queued"])
def test_storers_racing_on_one_id_leave_one_row(db: Database, prior: str) -> None:
    for n in range(5):
        if prior == "queued":
            add(db, (ident(n), T0, "a cat"))
        assert sorted(race(8, partial(store, db, ident(n)))) == [False] * 7 + [True]
    with db.session() as session:
        assert repository.count(session) == 5
        assert repository.count(session, "stored") == 5


def test_unfinished_are_queued_and_processing_oldest_first(db: Database) -> None:
    add(db, *[(ident(n), T0 - timedelta(minutes=n), f"picture {n}") for n in range(5)])
    with db.session() as session:
        repository.mark(session, ident(0), "processing")
        repository.mark(session, ident(1), "failed", error="broken")
        repository.store(session, **stored(ident(2)))
    with db.session() as session:
        assert [r.id for r in repository.unfinished(session)] == [ident(4), ident(3), ident(0)]


def test_delete(db: Database) -> None:
    add(db, (ident(1), T0, "a cat"), (ident(2), T0, "a dog"))
    with db.session() as session:
        assert repository.delete(session, ident(1)) is True
        assert repository.delete(session, ident(404)) is False
    assert read(db, ident(1)) is None
    with db.session() as session:
        assert [r.id for r in repository.list(session, status=None, limit=10, offset=0)[0]] == [
            ident(2)
        ]


def test_nothing_is_written_when_the_caller_fails(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        repository.add(session, ident(1), T0, "a cat")
        raise RuntimeError("the queue said no")
    assert read(db, ident(1)) is None


def test_the_database_enforces_the_status_values(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Caption(id=ident(1), received_at=T0, description="x", status="lost"))


def test_an_unknown_status_is_refused(db: Database) -> None:
    with db.session() as session, pytest.raises(ValueError):
        repository.list(session, status="done", limit=10, offset=0)
