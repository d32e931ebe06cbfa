"""face_images: one row per uploaded image for face detection

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_images",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("faces", sa.JSON(), nullable=True),
        sa.Column("face_count", sa.Integer(), nullable=True),
        sa.Column("detector", sa.String(32), nullable=True),
        sa.Column("file_path", sa.String(1024), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("processing_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'stored', 'failed')",
            name=op.f("ck_face_images_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_images")),
    )
    op.create_index(op.f("ix_face_images_created_at_id"), "face_images", ["created_at", "id"])
    op.create_index(
        op.f("ix_face_images_status_created_at_id"),
        "face_images",
        ["status", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_face_images_status_created_at_id"), table_name="face_images")
    op.drop_index(op.f("ix_face_images_created_at_id"), table_name="face_images")
    op.drop_table("face_images")
