"""Participants: a job's faces mode and every face of every sample.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 01:40:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job", sa.Column("faces", sa.String(length=16), server_default="subject", nullable=False))
    op.create_table(
        "frame_face",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("face", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("track", sa.String(length=32), nullable=False),
        sa.Column("participant", sa.String(length=16), nullable=True),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("w", sa.Integer(), nullable=False),
        sa.Column("h", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Double(), nullable=False),
        sa.Column("happiness", sa.Double(), nullable=False),
        sa.Column("surprise", sa.Double(), nullable=False),
        sa.Column("sadness", sa.Double(), nullable=False),
        sa.Column("anger", sa.Double(), nullable=False),
        sa.Column("disgust", sa.Double(), nullable=False),
        sa.Column("fear", sa.Double(), nullable=False),
        sa.Column("contempt", sa.Double(), nullable=False),
        sa.Column("identity", sa.JSON(), nullable=True),
        sa.Column("motion", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_frame_face_job_id_job"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "t_ms", "face", name=op.f("pk_frame_face")),
    )
    op.create_index("ix_frame_face_job_id_participant_t_ms", "frame_face", ["job_id", "participant", "t_ms"])


def downgrade() -> None:
    op.drop_index("ix_frame_face_job_id_participant_t_ms", table_name="frame_face")
    op.drop_table("frame_face")
    op.drop_column("job", "faces")
