"""SQLAlchemy tables: client, api_key, job, chunk, frame_emotion, frame_face, job_summary.

The schema itself is owned by Alembic (``migrations/``); these classes must match it, which
``tests/emotrace/test_migrations.py`` checks by autogenerate-comparing them with a migrated
database. Types are chosen to work on Postgres and on the embedded SQLite alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``timestamptz`` on Postgres; on SQLite, which drops the zone, values come back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: emotrace stores aware UTC times only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


def _enum(kind: type[StrEnum], name: str) -> Enum:
    # Stored as short strings (no Postgres ENUM type), so adding a state needs no ALTER TYPE.
    return Enum(kind, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Client(Base):
    __tablename__ = "client"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), doc="the key's first characters, shown by `keys list`")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, doc="sha256 hex of the whole key")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_job_client_id_idempotency_key"),
        Index("ix_job_client_id_created_at", "client_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, "job_status"), default=JobStatus.QUEUED, index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fps: Mapped[float] = mapped_column(Float)
    retain_video: Mapped[bool] = mapped_column(Boolean, default=False)
    faces: Mapped[str] = mapped_column(String(16), default="subject", server_default="subject", doc="subject | all")
    callback_url: Mapped[str | None] = mapped_column(Text)
    chunk_ms: Mapped[int] = mapped_column(Integer)
    chunks_total: Mapped[int] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    video: Mapped[dict[str, Any]] = mapped_column(JSON, doc="ml.schema.VideoInfo from probing the upload")
    transcript: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, doc="parsed cues, deleted with the job")
    recording_key: Mapped[str | None] = mapped_column(String(200), doc="storage key; null once deleted")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, doc="chunks sent to the queue")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, doc="last state change or chunk")


class Chunk(Base):
    __tablename__ = "chunk"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ChunkStatus] = mapped_column(
        _enum(ChunkStatus, "chunk_status"), default=ChunkStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), doc="host:pid of the last process to run it")
    leased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_ms: Mapped[int | None] = mapped_column(Integer, doc="wall time of the successful run")
    frames: Mapped[int | None] = mapped_column(Integer)


class FrameEmotion(Base):
    """One sampled instant of a job. (job_id, t_ms) is the key, so a rerun chunk adds nothing."""

    __tablename__ = "frame_emotion"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    t_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    face: Mapped[bool] = mapped_column(Boolean)
    x: Mapped[int | None] = mapped_column(Integer)
    y: Mapped[int | None] = mapped_column(Integer)
    w: Mapped[int | None] = mapped_column(Integer)
    h: Mapped[int | None] = mapped_column(Integer)
    # One column per ml.EMOTIONS entry, same order; double precision keeps the classifier's
    # rounded values bit-exact, so a job's summary equals `emotrace analyze`.
    neutral: Mapped[float | None] = mapped_column(Double)
    happiness: Mapped[float | None] = mapped_column(Double)
    surprise: Mapped[float | None] = mapped_column(Double)
    sadness: Mapped[float | None] = mapped_column(Double)
    anger: Mapped[float | None] = mapped_column(Double)
    disgust: Mapped[float | None] = mapped_column(Double)
    fear: Mapped[float | None] = mapped_column(Double)
    contempt: Mapped[float | None] = mapped_column(Double)


class FrameFace(Base):
    """Every face of a sample of a ``faces=all`` job; (job_id, t_ms, face) is the key, so a rerun
    chunk adds nothing. ``track`` is chunk-local; ``participant`` is set when the job finishes."""

    __tablename__ = "frame_face"
    __table_args__ = (Index("ix_frame_face_job_id_participant_t_ms", "job_id", "participant", "t_ms"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    t_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    face: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, doc="index in the sample")
    track: Mapped[str] = mapped_column(String(32))
    participant: Mapped[str | None] = mapped_column(String(16))
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    neutral: Mapped[float] = mapped_column(Double)
    happiness: Mapped[float] = mapped_column(Double)
    surprise: Mapped[float] = mapped_column(Double)
    sadness: Mapped[float] = mapped_column(Double)
    anger: Mapped[float] = mapped_column(Double)
    disgust: Mapped[float] = mapped_column(Double)
    fear: Mapped[float] = mapped_column(Double)
    contempt: Mapped[float] = mapped_column(Double)
    identity: Mapped[dict[str, Any] | None] = mapped_column(
        JSON,
        doc="face descriptor and surroundings histogram on the few described samples; colours near window edges",
    )
    motion: Mapped[float | None] = mapped_column(Double, doc="mouth-region change since the track's last sample")


class JobSummary(Base):
    """The analysis JSON without its frames, stored as text so key order survives (jsonb sorts)."""

    __tablename__ = "job_summary"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    analysis: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
