"""Every job state change, in SQL: create, plan, claim and record chunks, finish, fail, cancel, delete.

Functions take a ``Session`` and never commit: the request, task or command that opened it owns
the transaction. Every write is safe to repeat, because Celery may run a task twice (acks_late
redelivery, sweeper resubmission): frames are inserted with ``ON CONFLICT DO NOTHING`` on
(job_id, t_ms), a chunk is counted by ``UPDATE ... WHERE status <> 'done' RETURNING``, and a
finished job is only ever finished once. Tenancy is in the signatures: reads for the API take
the client id, so one client's query can never return another's job.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from emotrace.errors import InvalidParameter, JobFinished, JobNotFound
from emotrace.models import Chunk, ChunkStatus, FrameEmotion, FrameFace, Job, JobStatus, JobSummary, utcnow
from ml import EMOTIONS
from ml.participants import FaceObservation
from ml.schema import Face, Frame, VideoInfo
from ml.transcript import Cue

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class ChunkClaim:
    """What a worker needs to analyse one chunk, read in the claiming transaction."""

    job_id: uuid.UUID
    index: int
    attempts: int
    fps: float
    start_s: float
    end_s: float | None  # None: the last chunk runs to the end of the stream, as `analyze` does
    recording_key: str | None
    faces: str = "subject"
    exhausted: bool = False  # the lease would have gone past the attempt limit: the job failed instead


def plan_ranges(duration_s: float, chunk_s: float) -> list[tuple[int, int]]:
    """Half-open [start_ms, end_ms) ranges of ``chunk_s`` covering the recording; at least one."""
    chunk_ms = round(chunk_s * 1000)
    duration_ms = max(0, round(duration_s * 1000))
    count = max(1, math.ceil(duration_ms / chunk_ms))
    return [(k * chunk_ms, min((k + 1) * chunk_ms, max(duration_ms, k * chunk_ms))) for k in range(count)]


def create_job(
    session: Session,
    *,
    client_id: uuid.UUID,
    job_id: uuid.UUID,
    video: VideoInfo,
    fps: float,
    chunk_s: float,
    recording_key: str,
    retain_video: bool = False,
    external_id: str | None = None,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
    transcript: Sequence[Cue] | None = None,
    faces: str = "subject",
) -> Job:
    """A queued job and its pending chunk rows. Raises IntegrityError on a reused idempotency key."""
    ranges = plan_ranges(video.duration_s, chunk_s)
    now = utcnow()
    job = Job(
        id=job_id,
        client_id=client_id,
        status=JobStatus.QUEUED,
        external_id=external_id,
        idempotency_key=idempotency_key,
        fps=fps,
        retain_video=retain_video,
        faces=faces,
        callback_url=callback_url,
        chunk_ms=round(chunk_s * 1000),
        chunks_total=len(ranges),
        chunks_done=0,
        video=video.model_dump(mode="json"),
        transcript=[{"start": c.start, "end": c.end, "speaker": c.speaker, "text": c.text} for c in transcript]
        if transcript is not None
        else None,
        recording_key=recording_key,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    session.add_all(
        Chunk(job_id=job_id, index=i, start_ms=start, end_ms=end, status=ChunkStatus.PENDING, attempts=0)
        for i, (start, end) in enumerate(ranges)
    )
    session.flush()
    return job


def find_by_idempotency_key(session: Session, client_id: uuid.UUID, key: str) -> Job | None:
    return session.scalars(select(Job).where(Job.client_id == client_id, Job.idempotency_key == key)).one_or_none()


def get_job(session: Session, client_id: uuid.UUID, job_id: uuid.UUID) -> Job:
    """The caller's job; another client's job is "not found" too, so ids reveal nothing."""
    job = session.scalars(select(Job).where(Job.id == job_id, Job.client_id == client_id)).one_or_none()
    if job is None:
        raise JobNotFound("no such job")
    return job


def _encode_cursor(payload: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter("cursor is malformed") from exc
    if not isinstance(payload, list):
        raise InvalidParameter("cursor is malformed")
    return payload


def list_jobs(
    session: Session, client_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> tuple[list[Job], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages stay stable while jobs arrive."""
    query = select(Job).where(Job.client_id == client_id)
    if cursor:
        try:
            created_iso, last_id = _decode_cursor(cursor)
            key = (datetime.fromisoformat(created_iso), uuid.UUID(last_id))
        except (ValueError, TypeError) as exc:
            raise InvalidParameter("cursor is malformed") from exc
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(*key))
    jobs = list(session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)))
    if len(jobs) <= limit:
        return jobs, None
    last = jobs[limit - 1]
    return jobs[:limit], _encode_cursor([last.created_at.isoformat(), str(last.id)])


def progress(job: Job) -> float:
    if job.status == JobStatus.SUCCEEDED:
        return 1.0
    return round(job.chunks_done / job.chunks_total, 4) if job.chunks_total else 0.0


def mark_planned(session: Session, job_id: uuid.UUID) -> list[int] | None:
    """Pending chunk indexes for the one planner that wins; None for every later attempt."""
    won = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.planned_at.is_(None), Job.status.in_(ACTIVE))
        .values(planned_at=utcnow())
        .returning(Job.id)
    ).first()
    if won is None:
        return None
    return _undone_indexes(session, job_id)


def unfinished_chunks(session: Session, job_id: uuid.UUID) -> list[int]:
    """Indexes of an active job's chunks not yet done, in order; empty for a job gone or over.

    The embedded queue runs a job's chunks itself instead of receiving one message per chunk,
    so after a restart this is how it knows which ones are left.
    """
    job = get_any_job(session, job_id)
    if job is None or job.status not in ACTIVE:
        return []
    return _undone_indexes(session, job_id)


def _undone_indexes(session: Session, job_id: uuid.UUID) -> list[int]:
    return list(
        session.scalars(
            select(Chunk.index).where(Chunk.job_id == job_id, Chunk.status != ChunkStatus.DONE).order_by(Chunk.index)
        )
    )


def reclaim_active_jobs(session: Session) -> list[uuid.UUID]:
    """Active jobs, oldest first, with every running chunk of theirs put back to pending.

    Only for the embedded queue starting up: its own process held every lease, so a running
    chunk is one that process died in. With Celery workers a running chunk may be genuinely
    leased elsewhere; there the sweep's lease timeout decides (:func:`stalled_chunks`).
    """
    job_ids = list(session.scalars(select(Job.id).where(Job.status.in_(ACTIVE)).order_by(Job.created_at)))
    session.execute(
        update(Chunk)
        .where(Chunk.job_id.in_(job_ids), Chunk.status == ChunkStatus.RUNNING)
        .values(status=ChunkStatus.PENDING, leased_at=None)
    )
    return job_ids


def _lock_job(session: Session, job_id: uuid.UUID) -> Job | None:
    """The job row locked until commit (Postgres), so a DELETE cannot interleave with a write;
    SQLite serialises writers anyway and ignores FOR UPDATE."""
    return session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()


def claim_chunk(
    session: Session, job_id: uuid.UUID, index: int, *, worker: str, max_attempts: int | None = None
) -> ChunkClaim | None:
    """Lease a chunk for analysis; None when the job is gone or over, or the chunk is done.

    Attempts count every lease, including ones whose worker died mid-chunk, so a chunk that
    kills its worker each time still ends the job: the lease that would go past
    ``max_attempts`` fails the job in the same transaction instead (the claim comes back
    ``exhausted``), so no worker ever runs it and no moment exists where it looks leased.
    """
    job = _lock_job(session, job_id)
    if job is None or job.status not in ACTIVE:
        return None
    pending = (Chunk.job_id == job_id, Chunk.index == index, Chunk.status != ChunkStatus.DONE)
    chunk = session.execute(select(Chunk.attempts, Chunk.start_ms).where(*pending)).first()
    if chunk is None:
        return None
    attempts, exhausted = chunk.attempts, max_attempts is not None and chunk.attempts >= max_attempts
    if exhausted:
        message = f"chunk {index} failed {attempts} times (errors or worker crashes)"
        fail_job(session, job_id, code="chunk_failed", message=message)
    else:
        now = utcnow()
        attempts = session.execute(
            update(Chunk)
            .where(*pending)
            .values(status=ChunkStatus.RUNNING, attempts=Chunk.attempts + 1, leased_at=now, worker=worker)
            .returning(Chunk.attempts)
        ).scalar_one()
        if job.status == JobStatus.QUEUED:
            job.status, job.started_at = JobStatus.RUNNING, now
        job.updated_at = now
    last = index == job.chunks_total - 1
    return ChunkClaim(
        job_id=job_id,
        index=index,
        attempts=attempts,
        fps=job.fps,
        start_s=chunk.start_ms / 1000,
        end_s=None if last else (chunk.start_ms + job.chunk_ms) / 1000,
        recording_key=job.recording_key,
        faces=job.faces,
        exhausted=exhausted,
    )


def release_chunk(session: Session, job_id: uuid.UUID, index: int) -> None:
    """Put a failed attempt back to pending, for a retry."""
    session.execute(
        update(Chunk)
        .where(Chunk.job_id == job_id, Chunk.index == index, Chunk.status == ChunkStatus.RUNNING)
        .values(status=ChunkStatus.PENDING, leased_at=None)
    )


def _frame_values(job_id: uuid.UUID, frame: Frame) -> dict[str, Any]:
    box = frame.box or (None, None, None, None)
    values: dict[str, Any] = {
        "job_id": job_id,
        "t_ms": round(frame.t * 1000),
        "face": frame.face,
        "x": box[0],
        "y": box[1],
        "w": box[2],
        "h": box[3],
    }
    for name in EMOTIONS:
        values[name] = frame.probs[name] if frame.probs else None
    return values


def to_frame(row: FrameEmotion) -> Frame:
    box = (row.x, row.y, row.w, row.h) if row.face and row.x is not None else None
    probs = {name: getattr(row, name) for name in EMOTIONS} if row.face and row.neutral is not None else None
    return Frame(t=row.t_ms / 1000, face=row.face, box=box, probs=probs)


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _face_values(job_id: uuid.UUID, item: FaceObservation) -> dict[str, Any]:
    x, y, w, h = item.box
    identity: dict[str, list[float]] = {}
    if item.descriptor is not None and item.context is not None:
        identity.update(descriptor=list(item.descriptor), context=list(item.context))
    if item.colours is not None:
        identity["colours"] = list(item.colours)
    values: dict[str, Any] = {
        "job_id": job_id,
        "t_ms": item.t_ms,
        "face": item.index,
        "track": item.track,
        "participant": None,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "identity": identity or None,
        "motion": item.motion,
    }
    for name in EMOTIONS:
        values[name] = item.probs[name]
    return values


def _face_probs(row: FrameFace) -> dict[str, float]:
    return {name: getattr(row, name) for name in EMOTIONS}


def to_observation(row: FrameFace) -> FaceObservation:
    identity = row.identity or {}
    descriptor, context, colours = identity.get("descriptor"), identity.get("context"), identity.get("colours")
    return FaceObservation(
        t_ms=row.t_ms,
        index=row.face,
        track=row.track,
        box=(row.x, row.y, row.w, row.h),
        probs=_face_probs(row),
        descriptor=tuple(descriptor) if descriptor is not None else None,
        context=tuple(context) if context is not None else None,
        motion=row.motion,
        colours=tuple(colours) if colours is not None else None,
    )


def record_chunk(
    session: Session,
    job_id: uuid.UUID,
    index: int,
    frames: Sequence[Frame],
    *,
    run_ms: int,
    observations: Sequence[FaceObservation] = (),
) -> bool:
    """Write a chunk's frames (and, for ``faces=all``, every face) and mark it done, in the
    caller's one transaction.

    Returns whether this call counted the chunk (False: the job is gone or over, or another run
    of the same chunk got there first). Rows already present are kept as they are.
    """
    job = _lock_job(session, job_id)
    if job is None or job.status not in ACTIVE:
        return False
    insert = _insert(session)
    if frames:
        session.execute(
            insert(FrameEmotion).on_conflict_do_nothing(index_elements=["job_id", "t_ms"]),
            [_frame_values(job_id, frame) for frame in frames],
        )
    if observations:
        session.execute(
            insert(FrameFace).on_conflict_do_nothing(index_elements=["job_id", "t_ms", "face"]),
            [_face_values(job_id, item) for item in observations],
        )
    now = utcnow()
    counted = session.execute(
        update(Chunk)
        .where(Chunk.job_id == job_id, Chunk.index == index, Chunk.status != ChunkStatus.DONE)
        .values(status=ChunkStatus.DONE, finished_at=now, run_ms=run_ms, frames=len(frames))
        .returning(Chunk.index)
    ).first()
    if counted is None:
        return False
    job.chunks_done = Job.chunks_done + 1  # evaluated in SQL: concurrent chunks cannot lose a count
    job.updated_at = now
    session.flush()
    return True


def all_chunks_done(session: Session, job_id: uuid.UUID) -> bool:
    remaining = session.scalar(
        select(func.count()).select_from(Chunk).where(Chunk.job_id == job_id, Chunk.status != ChunkStatus.DONE)
    )
    return remaining == 0


def load_frames(session: Session, job_id: uuid.UUID) -> list[Frame]:
    rows = session.scalars(select(FrameEmotion).where(FrameEmotion.job_id == job_id).order_by(FrameEmotion.t_ms))
    return [to_frame(row) for row in rows]


def load_observations(session: Session, job_id: uuid.UUID) -> list[FaceObservation]:
    rows = session.scalars(select(FrameFace).where(FrameFace.job_id == job_id).order_by(FrameFace.t_ms, FrameFace.face))
    return [to_observation(row) for row in rows]


def name_participants(session: Session, job_id: uuid.UUID, owner: dict[str, str]) -> None:
    """Label every face row with its participant (``owner``: track -> participant id)."""
    by_participant: dict[str, list[str]] = {}
    for track, participant in owner.items():
        by_participant.setdefault(participant, []).append(track)
    for participant, tracks in by_participant.items():
        session.execute(
            update(FrameFace)
            .where(FrameFace.job_id == job_id, FrameFace.track.in_(tracks))
            .values(participant=participant)
        )


def has_participant(session: Session, job_id: uuid.UUID, participant: str) -> bool:
    found = session.scalar(
        select(FrameFace.t_ms).where(FrameFace.job_id == job_id, FrameFace.participant == participant).limit(1)
    )
    return found is not None


def transcript_cues(job: Job) -> list[Cue] | None:
    if job.transcript is None:
        return None
    return [Cue(c["start"], c["end"], c.get("speaker"), c.get("text")) for c in job.transcript]


def complete_job(session: Session, job_id: uuid.UUID, analysis_json: str) -> Job | None:
    """Store the summary and mark the job succeeded, once; None if it was already over or gone."""
    job = _lock_job(session, job_id)
    if job is None or job.status not in ACTIVE:
        return None
    session.execute(delete(JobSummary).where(JobSummary.job_id == job_id))
    session.add(JobSummary(job_id=job_id, analysis=analysis_json, created_at=utcnow()))
    now = utcnow()
    job.status, job.finished_at, job.updated_at = JobStatus.SUCCEEDED, now, now
    job.started_at = job.started_at or now
    session.flush()
    return job


def fail_job(session: Session, job_id: uuid.UUID, *, code: str, message: str) -> Job | None:
    """End an active job as failed with a reason; None if it was already over or gone."""
    job = _lock_job(session, job_id)
    if job is None or job.status not in ACTIVE:
        return None
    now = utcnow()
    job.status, job.error_code, job.error_message = JobStatus.FAILED, code, message[:1000]
    job.finished_at, job.updated_at = now, now
    session.flush()
    return job


def forget_recording(session: Session, job_id: uuid.UUID) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(recording_key=None))


def summary_json(session: Session, job: Job) -> str | None:
    return session.scalar(select(JobSummary.analysis).where(JobSummary.job_id == job.id))


def frames_query(job_id: uuid.UUID, *, start_ms: int | None, end_ms: int | None, after_ms: int | None) -> Any:
    query = select(FrameEmotion).where(FrameEmotion.job_id == job_id)
    if start_ms is not None:
        query = query.where(FrameEmotion.t_ms >= start_ms)
    if end_ms is not None:
        query = query.where(FrameEmotion.t_ms < end_ms)
    if after_ms is not None:
        query = query.where(FrameEmotion.t_ms > after_ms)
    return query.order_by(FrameEmotion.t_ms)


def page_frames(
    session: Session,
    job_id: uuid.UUID,
    *,
    start_ms: int | None,
    end_ms: int | None,
    cursor: str | None,
    limit: int,
    faces: bool = False,
    participant: str | None = None,
) -> tuple[list[Frame], str | None]:
    """A page of frames in time order. With ``faces`` each frame lists its faces (``faces=all``
    jobs); with ``participant`` too, only that participant's face, and ``face``/``box``/``probs``
    are that participant's rather than the main subject's."""
    after_ms = None
    if cursor:
        payload = _decode_cursor(cursor)
        if len(payload) != 1 or not isinstance(payload[0], int):
            raise InvalidParameter("cursor is malformed")
        after_ms = payload[0]
    rows = list(
        session.scalars(frames_query(job_id, start_ms=start_ms, end_ms=end_ms, after_ms=after_ms).limit(limit + 1))
    )
    next_cursor = _encode_cursor([rows[limit - 1].t_ms]) if len(rows) > limit else None
    rows = rows[:limit]
    if not faces or not rows:
        return [to_frame(row) for row in rows], next_cursor
    query = select(FrameFace).where(
        FrameFace.job_id == job_id,
        FrameFace.t_ms >= rows[0].t_ms,
        FrameFace.t_ms <= rows[-1].t_ms,
        FrameFace.participant.is_not(None),
    )
    if participant is not None:
        query = query.where(FrameFace.participant == participant)
    by_time: dict[int, list[Face]] = {}
    for face in session.scalars(query.order_by(FrameFace.t_ms, FrameFace.face)):
        assert face.participant is not None
        by_time.setdefault(face.t_ms, []).append(
            Face(participant=face.participant, box=(face.x, face.y, face.w, face.h), probs=_face_probs(face))
        )
    frames = []
    for row in rows:
        found = by_time.get(row.t_ms, [])
        frame = to_frame(row)
        if participant is not None:
            own = found[0] if found else None
            frame = Frame(
                t=frame.t, face=own is not None, box=own.box if own else None, probs=own.probs if own else None
            )
        frames.append(frame.model_copy(update={"faces": found}))
    return frames, next_cursor


def cancel_job(session: Session, job_id: uuid.UUID) -> tuple[Job, str | None]:
    """Stop an active job and drop its results, keeping the row as ``cancelled``; returns the
    job and its recording's storage key, to delete after commit.

    Chunks running now find the job over when they try to record (or their recording gone)
    and discard their work; chunks not started are never claimed. Raises :class:`JobFinished`
    for a job that had already ended, whose results a cancel must not destroy.
    """
    job = _lock_job(session, job_id)
    if job is None:
        raise JobNotFound("no such job")
    if job.status not in ACTIVE:
        raise JobFinished(f"the job already ended as {JobStatus(job.status).value}; nothing to cancel")
    key = job.recording_key
    for table in (FrameEmotion, FrameFace, JobSummary):
        session.execute(delete(table).where(table.job_id == job_id))
    now = utcnow()
    job.status, job.finished_at, job.updated_at, job.recording_key = JobStatus.CANCELLED, now, now, None
    session.flush()
    return job, key


def delete_job(session: Session, job_id: uuid.UUID) -> str | None:
    """Remove a job and all its results; returns its recording's storage key to delete after
    commit. Running chunks find the job gone and discard their work."""
    job = _lock_job(session, job_id)
    if job is None:
        return None
    key = job.recording_key
    for table in (FrameEmotion, Chunk, JobSummary):
        session.execute(delete(table).where(table.job_id == job_id))
    session.execute(delete(Job).where(Job.id == job_id))
    return key


# --- what the periodic sweep looks for -------------------------------------------------------


def unplanned_jobs(session: Session, *, older_than: timedelta) -> list[uuid.UUID]:
    """Queued jobs nobody planned: the broker was down or lost the message at submit time."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(Job.id).where(Job.status == JobStatus.QUEUED, Job.planned_at.is_(None), Job.created_at < cutoff)
        )
    )


def stalled_chunks(session: Session, *, lease: timedelta) -> list[tuple[uuid.UUID, int]]:
    """Chunks of active jobs that should have finished by now: a lease running past its time (the
    worker died and the message is gone), or pending in a planned job with no activity at all."""
    cutoff = utcnow() - lease
    rows = session.execute(
        select(Chunk.job_id, Chunk.index)
        .join(Job, Job.id == Chunk.job_id)
        .where(
            Job.status.in_(ACTIVE),
            Job.planned_at.is_not(None),
            (
                (Chunk.status == ChunkStatus.RUNNING) & (Chunk.leased_at < cutoff)
                | (Chunk.status == ChunkStatus.PENDING) & (Job.updated_at < cutoff) & (Job.planned_at < cutoff)
            ),
        )
        .order_by(Chunk.job_id, Chunk.index)
    ).all()
    return [(job_id, index) for job_id, index in rows]


def touch_job(session: Session, job_id: uuid.UUID) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow()))


def finishable_jobs(session: Session) -> list[uuid.UUID]:
    """Active jobs whose chunks are all done: their chord callback was lost or ran too early."""
    return list(session.scalars(select(Job.id).where(Job.status.in_(ACTIVE), Job.chunks_total == Job.chunks_done)))


def expired_jobs(session: Session, *, retention: timedelta, limit: int = 500) -> list[uuid.UUID]:
    cutoff = utcnow() - retention
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.status.not_in(ACTIVE), Job.finished_at < cutoff)
            .order_by(Job.finished_at)
            .limit(limit)
        )
    )


def job_recording(session: Session, job_id: uuid.UUID) -> tuple[str | None, bool] | None:
    row = session.execute(select(Job.recording_key, Job.retain_video).where(Job.id == job_id)).first()
    return (row.recording_key, row.retain_video) if row else None


def get_any_job(session: Session, job_id: uuid.UUID) -> Job | None:
    """A job by id regardless of owner: for workers, never for the API."""
    return session.get(Job, job_id)


# --- figures for /metrics --------------------------------------------------------------------


def count_by_status(session: Session) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in JobStatus), 0)
    for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[JobStatus(status).value] = count
    return counts


def chunk_latency_histogram(session: Session, bounds_s: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative counts of finished chunks' run time at each bound, their count and sum (s)."""
    columns = [func.coalesce(func.sum(case((Chunk.run_ms <= round(b * 1000), 1), else_=0)), 0) for b in bounds_s]
    row = session.execute(
        select(*columns, func.count(), func.coalesce(func.sum(Chunk.run_ms), 0)).where(Chunk.run_ms.is_not(None))
    ).one()
    values = list(row)
    return [int(v) for v in values[: len(bounds_s)]], int(values[-2]), float(values[-1]) / 1000


def pending_chunks(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Chunk)
            .join(Job, Job.id == Chunk.job_id)
            .where(Job.status.in_(ACTIVE), Chunk.status != ChunkStatus.DONE)
        )
        or 0
    )
