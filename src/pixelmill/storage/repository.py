"""The one place that writes SQL for the job tables: captions and face images.

Every method takes the caller's Session first and never commits: the caller owns the
transaction (`with database.session() as session: ...`).

    add       the API accepted an image: a queued row
    mark      processing or failed; a stored row is final and stays
    store     the worker's idempotent upsert: inserts, or finishes a row, or does nothing
              (`store_many`: a batch's rows in one statement)
    delete    undo an acceptance the queue refused
    get / list / count / unfinished    reads

`CaptionRepository` and `FaceRepository` differ only in their columns; the rules above live
once, in `_JobRepository`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

from pixelmill.storage.models import Caption, Face, FaceImage, Status, utcnow

UNFINISHED = (Status.QUEUED.value, Status.PROCESSING.value)

# a job table: the models with id, status, error, created_at and updated_at
Row = TypeVar("Row", Caption, FaceImage)
# a row to store: its id, the columns of its result, and the columns a lost row is given
_Stored = tuple[str, dict[str, Any], dict[str, Any]]


class _JobRepository(Generic[Row]):
    """Reads and writes that every job table shares."""

    model: type[Row]

    def delete(self, session: Session, id: str) -> bool:
        """Remove the row of `id`; True when there was one."""
        result = session.execute(delete(self.model).where(self.model.id == id))
        return cast(CursorResult[Any], result).rowcount > 0

    def mark(self, session: Session, id: str, status: str, *, error: str | None = None) -> bool:
        """Move `id` to `status` with `error` (None clears it); True when a row changed.

        A stored row is final: a late or repeated message cannot take it back to processing
        or failed. Stored rows are made by `store`, not here.
        """
        new = Status(status)
        if new is Status.STORED:
            raise ValueError("a row becomes stored through store(), which records its result")
        values = {"status": new.value, "error": error, "updated_at": utcnow()}
        result = session.execute(
            update(self.model)
            .where(self.model.id == id, self.model.status != Status.STORED.value)
            .values(values | self._marked(new))
        )
        return cast(CursorResult[Any], result).rowcount > 0

    def get(self, session: Session, id: str) -> Row | None:
        """The row of `id`, or None."""
        return session.get(self.model, id)

    def count(self, session: Session, status: str | None = None) -> int:
        """How many rows there are (in `status`, when given)."""
        query = select(func.count()).select_from(self.model).where(*self._in_status(status))
        return session.scalar(query) or 0

    def unfinished(self, session: Session) -> builtins.list[Row]:
        """Queued and processing rows, oldest first: the work to take up again after a restart."""
        query = (
            select(self.model)
            .where(self.model.status.in_(UNFINISHED))
            .order_by(self._accepted_at(), self.model.id)
        )
        return builtins.list(session.scalars(query))

    def list(
        self, session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[builtins.list[Row], int]:
        """A page of rows, newest first (then by id, descending), and the total of all pages."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, not {limit}, {offset}")
        query = (
            select(self.model)
            .where(*self._in_status(status))
            .order_by(self._accepted_at().desc(), self.model.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = builtins.list(session.scalars(query))
        return rows, self.count(session, status)

    def _accepted_at(self) -> InstrumentedAttribute[datetime]:
        """When the API accepted a row: "newest first" and "oldest first" go by it."""
        raise NotImplementedError

    def _add(self, session: Session, row: Row, flush: bool = True) -> Row:
        session.add(row)
        if flush:  # a duplicate id fails here, not at some later commit
            session.flush()
        return row

    def _marked(self, status: Status) -> dict[str, Any]:
        """Columns of the table's own that moving to `status` sets, besides status and error."""
        return {}

    def store_many(self, session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
        """`store` for each of `rows` (each the keywords `store` takes), in one statement; the
        ids whose rows that changed."""
        return self._store(session, [self._stored(row) for row in rows])

    def _stored(self, row: dict[str, Any]) -> _Stored:
        """A `store` call's keywords as (id, result columns, columns of a lost row)."""
        raise NotImplementedError

    def _store(self, session: Session, rows: Sequence[_Stored]) -> set[str]:
        """Make each id stored with the columns of its result; the ids where that changed
        something.

        Idempotent, and one statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE), so two
        workers racing on one id leave one row and exactly one of them sees it changed:
        no row (the API's was lost) -> inserted as stored, with the columns of `new` and
        created now; a row in another state -> it becomes stored; an already stored row ->
        left as it is, unchanged. An id given twice is stored once (the last one given).
        """
        if not rows:
            return set()
        now = utcnow()
        final: dict[str, Any] = {"status": Status.STORED.value, "error": None, "updated_at": now}
        values = {
            id: {"id": id, "created_at": now} | new | result | final for id, result, new in rows
        }
        dialect = session.get_bind().dialect.name
        table = cast(Table, self.model.__table__)  # Core: the rows go in as parameters
        # each dialect's module imported here: the engine has loaded its own already, and the
        # other one (PostgreSQL's: ~30 ms) is not imported at every start for nothing
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            insert: postgresql.Insert | sqlite.Insert = postgresql_insert(table)
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert(table)
        else:
            raise NotImplementedError(f"store() needs ON CONFLICT, which {dialect} lacks")
        columns = [*rows[0][1], *final]
        # The rows as parameters of one statement, not as its VALUES: the same statement for
        # every batch, compiled once (SQLAlchemy's "insertmanyvalues" still sends the batch
        # as one INSERT); a statement with the values in it was compiled again every time,
        # the most CPU the embedded storer spent.
        statement = (
            insert.on_conflict_do_update(
                index_elements=[self.model.id],
                # what the API recorded when it accepted the row stays as it is
                set_={column: insert.excluded[column] for column in columns},
                where=self.model.status != Status.STORED.value,
            )
        ).returning(self.model.id)
        changed = set(session.execute(statement, list(values.values())).scalars())
        # a row of these ids already in the session gets the new values when next read
        for id in changed:
            if (row := session.identity_map.get(session.identity_key(self.model, id))) is not None:
                session.expire(row)
        return changed

    def _in_status(self, status: str | None) -> builtins.list[ColumnElement[bool]]:
        # Status() refuses a misspelt status instead of quietly matching nothing
        return [] if status is None else [self.model.status == Status(status).value]


class CaptionRepository(_JobRepository[Caption]):
    """Reads and writes of the `captions` table; `mark(..., "processing")` counts an attempt."""

    model = Caption

    def add(
        self,
        session: Session,
        id: str,
        received_at: datetime,
        description: str,
        *,
        flush: bool = True,
    ) -> Caption:
        """Record an accepted image as queued; a duplicate id raises IntegrityError, at once
        or (`flush=False`: rows added together are inserted together) at the commit."""
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
        return self._add(session, caption, flush)

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
        """Record the stored image of `id`; True when that changed something (see `_store`).

        `received_at` and `description` are used only when the API's row was lost.
        """
        row = {
            "id": id,
            "received_at": received_at,
            "description": description,
            "file_path": file_path,
            "size_bytes": size_bytes,
            "width": width,
            "height": height,
            "processing_ms": processing_ms,
        }
        return id in self.store_many(session, [row])

    def _stored(self, row: dict[str, Any]) -> _Stored:
        columns = ("file_path", "size_bytes", "width", "height", "processing_ms")
        result = {column: row[column] for column in columns}
        lost = {"received_at": _utc(row["received_at"]), "description": row["description"]}
        return row["id"], result, lost | {"attempts": 0}

    def _accepted_at(self) -> InstrumentedAttribute[datetime]:
        return Caption.received_at

    def _marked(self, status: Status) -> dict[str, Any]:
        return {"attempts": Caption.attempts + 1} if status is Status.PROCESSING else {}


class FaceRepository(_JobRepository[FaceImage]):
    """Reads and writes of the `face_images` table."""

    model = FaceImage

    def add(
        self,
        session: Session,
        id: str,
        created_at: datetime,
        filename: str | None,
        format: str | None,
        *,
        flush: bool = True,
    ) -> FaceImage:
        """Record an uploaded image as queued; a duplicate id raises IntegrityError, at once
        or (`flush=False`) at the commit."""
        image = FaceImage(
            id=id,
            status=Status.QUEUED.value,
            created_at=_utc(created_at),
            filename=filename,
            format=format,
            updated_at=utcnow(),
        )
        return self._add(session, image, flush)

    def store(
        self,
        session: Session,
        *,
        id: str,
        width: int,
        height: int,
        faces: builtins.list[Face],
        detector: str,
        file_path: str,
        size_bytes: int,
        processing_ms: float,
    ) -> bool:
        """Record the faces and boxed image of `id`; True when that changed something.

        See `_store`: a row the API lost is inserted as stored, created now, with no file
        name or format.
        """
        row = {
            "id": id,
            "width": width,
            "height": height,
            "faces": faces,
            "detector": detector,
            "file_path": file_path,
            "size_bytes": size_bytes,
            "processing_ms": processing_ms,
        }
        return id in self.store_many(session, [row])

    def _stored(self, row: dict[str, Any]) -> _Stored:
        columns = ("width", "height", "detector", "file_path", "size_bytes", "processing_ms")
        result = {column: row[column] for column in columns}
        faces = [dict(face) for face in row["faces"]]
        return row["id"], result | {"faces": faces, "face_count": len(faces)}, {}

    def _accepted_at(self) -> InstrumentedAttribute[datetime]:
        return FaceImage.created_at


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give it a time zone")
    return moment.astimezone(UTC)
