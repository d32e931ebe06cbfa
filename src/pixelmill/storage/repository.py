"""The one place that writes SQL for captions.

Every method takes the caller's Session first and never commits: the caller owns the
transaction (`with database.session() as session: ...`).

    add       the API accepted an image: a queued row
    mark      processing (one more attempt) or failed; a stored row is final and stays
    store     the storer's idempotent upsert: inserts, or finishes a row, or does nothing
    delete    undo an acceptance the queue refused
    get / list / count / unfinished    reads
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pixelmill.storage.models import Caption, Status, utcnow

UNFINISHED = (Status.QUEUED.value, Status.PROCESSING.value)


class CaptionRepository:
    """Reads and writes of the `captions` table."""

    def add(self, session: Session, id: str, received_at: datetime, description: str) -> Caption:
        """Record an accepted image as queued; a duplicate id raises IntegrityError."""
        now = utcnow()
        caption = Caption(
            id=id,
            received_at=_utc(received_at),
            description=description,
            status=Status.QUEUED.value,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(caption)
        session.flush()  # a duplicate id fails here, not at some later commit
        return caption

    def delete(self, session: Session, id: str) -> bool:
        """Remove the row of `id`; True when there was one."""
        result = session.execute(delete(Caption).where(Caption.id == id))
        return cast(CursorResult[Any], result).rowcount > 0

    def mark(self, session: Session, id: str, status: str, *, error: str | None = None) -> bool:
        """Move `id` to `status` (processing counts an attempt) with `error` (None clears it).

        A stored row is final: a late or repeated message cannot take it back to processing
        or failed. True when a row changed. Stored rows are made by `store`, not here.
        """
        new = Status(status)
        if new is Status.STORED:
            raise ValueError("a caption becomes stored through store(), which records its file")
        values: dict[str, Any] = {"status": new.value, "error": error, "updated_at": utcnow()}
        if new is Status.PROCESSING:
            values["attempts"] = Caption.attempts + 1
        result = session.execute(
            update(Caption)
            .where(Caption.id == id, Caption.status != Status.STORED.value)
            .values(values)
        )
        return cast(CursorResult[Any], result).rowcount > 0

    def store(
        self,
        session: Session,
        *,
        id: str,
        received_at: datetime,
        description: str,
        file_path: str,
        size_bytes: int,
        width: int,
        height: int,
        processing_ms: float,
    ) -> bool:
        """Record the stored image of `id`; True when that changed something.

        Idempotent, and one statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE), so two
        storers racing on one id leave one row and exactly one of them gets True:
        no row (the API's was lost) -> inserted as stored; a row in another state -> it
        becomes stored; an already stored row -> left as it is, False.
        """
        now = utcnow()
        stored = {
            "status": Status.STORED.value,
            "file_path": file_path,
            "size_bytes": size_bytes,
            "width": width,
            "height": height,
            "processing_ms": processing_ms,
            "error": None,
            "updated_at": now,
        }
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            insert: postgresql.Insert | sqlite.Insert = postgresql.insert(Caption)
        elif dialect == "sqlite":
            insert = sqlite.insert(Caption)
        else:
            raise NotImplementedError(f"store() needs ON CONFLICT, which {dialect} lacks")
        statement = (
            insert.values(
                id=id,
                received_at=_utc(received_at),
                description=description,
                attempts=0,
                created_at=now,
                **stored,
            )
            # the row's own id, receive time and description stay as the API recorded them
            .on_conflict_do_update(
                index_elements=[Caption.id],
                set_=stored,
                where=Caption.status != Status.STORED.value,
            )
            .returning(Caption)
        )
        # populate_existing: a Caption of this id already in the session gets the new values
        changed = session.scalars(statement, execution_options={"populate_existing": True})
        return changed.first() is not None

    def get(self, session: Session, id: str) -> Caption | None:
        """The row of `id`, or None."""
        return session.get(Caption, id)

    def count(self, session: Session, status: str | None = None) -> int:
        """How many rows there are (in `status`, when given)."""
        query = select(func.count()).select_from(Caption).where(*_in_status(status))
        return session.scalar(query) or 0

    def unfinished(self, session: Session) -> builtins.list[Caption]:
        """Queued and processing rows, oldest first: the work to take up again after a restart."""
        query = (
            select(Caption)
            .where(Caption.status.in_(UNFINISHED))
            .order_by(Caption.received_at, Caption.id)
        )
        return builtins.list(session.scalars(query))

    def list(
        self, session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[builtins.list[Caption], int]:
        """A page of rows, newest first (then by id, descending), and the total of all pages."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, not {limit}, {offset}")
        query = (
            select(Caption)
            .where(*_in_status(status))
            .order_by(Caption.received_at.desc(), Caption.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = builtins.list(session.scalars(query))
        return rows, self.count(session, status)


def _in_status(status: str | None) -> builtins.list[ColumnElement[bool]]:
    # Status() refuses a misspelt status instead of quietly matching nothing
    return [] if status is None else [Caption.status == Status(status).value]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give it a time zone")
    return moment.astimezone(UTC)
