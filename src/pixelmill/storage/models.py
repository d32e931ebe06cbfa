"""The database tables, as SQLAlchemy typed declarative models.

    captions      one row per accepted caption job: queued -> processing -> stored | failed
    face_images   one row per uploaded image for face detection, the same four states

Timestamps are timezone-aware UTC going in and coming out, on every database: SQLite keeps
no offset, so `UTCDateTime` stores UTC and puts the offset back when reading. The schema
itself is made by the Alembic migrations in `migrations/`; a test keeps the two equal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints and indexes: Alembic can then drop and alter them, on SQLite too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DESCRIPTION_CHARS = 200
FILENAME_CHARS = 255  # the client's name of an uploaded file, kept as a label

# One detected face: "x", "y", "width", "height" in pixels of the input image, and "score"
# (None when the detector gives none, as Haar cascades do).
Face = dict[str, float | int | None]


class Status(StrEnum):
    """Where a caption or face job is; `stored` and `failed` are final."""

    QUEUED = "queued"
    PROCESSING = "processing"
    STORED = "stored"
    FAILED = "failed"


STATUS_CHECK = f"status IN ({', '.join(repr(status.value) for status in Status)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a time zone")
        value = value.astimezone(UTC)
        # SQLite would keep the wall clock and drop the offset; hand it plain UTC instead
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Caption(Base):
    """An accepted image with its description, and what became of it."""

    __tablename__ = "captions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(String(DESCRIPTION_CHARS))
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED.value)
    file_path: Mapped[str | None] = mapped_column(String(1024))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    processing_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        # "newest first" (received_at DESC, id DESC) is a backward scan of this index
        Index("ix_captions_received_at_id", "received_at", "id"),
        # a status filter (and the unfinished rows, oldest first) in received order
        Index("ix_captions_status_received_at_id", "status", "received_at", "id"),
    )

    def __repr__(self) -> str:
        return f"Caption(id={self.id!r}, status={self.status!r})"


class FaceImage(Base):
    """An uploaded image, the faces found in it and the boxed result, and what became of it."""

    __tablename__ = "face_images"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED.value)
    # when the API received the upload; "newest first" goes by it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    filename: Mapped[str | None] = mapped_column(String(FILENAME_CHARS))
    format: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # none_as_null: no faces yet is SQL NULL, not the JSON text 'null'
    faces: Mapped[list[Face] | None] = mapped_column(JSON(none_as_null=True))
    face_count: Mapped[int | None] = mapped_column(Integer)
    detector: Mapped[str | None] = mapped_column(String(32))
    file_path: Mapped[str | None] = mapped_column(String(1024))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    processing_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        Index("ix_face_images_created_at_id", "created_at", "id"),
        Index("ix_face_images_status_created_at_id", "status", "created_at", "id"),
    )

    def __repr__(self) -> str:
        return f"FaceImage(id={self.id!r}, status={self.status!r})"
