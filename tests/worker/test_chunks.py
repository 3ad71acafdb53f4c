"""The worker's plain functions against real Postgres, without Celery: every write is safe to
repeat, a chunk that keeps failing ends its job, stalled work is found again, old jobs go."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from emotrace import jobs, keys
from emotrace.db import prepare_database, session_scope
from emotrace.models import Chunk, ChunkStatus, FrameEmotion, Job, JobStatus, JobSummary, utcnow
from emotrace.settings import Settings
from emotrace.storage import LocalStore, recording_key
from ml import EMOTIONS
from ml.schema import Frame, VideoInfo
from worker import chunks


def make_job(settings: Settings, *, duration_s: float = 25.0, with_recording: Path | None = None) -> uuid.UUID:
    store = LocalStore(settings.storage_root)
    job_id = uuid.uuid4()
    if with_recording is not None:
        staged = store.staging_dir() / f"{job_id.hex}.upload"
        staged.write_bytes(with_recording.read_bytes())
        store.put(recording_key(job_id), staged)
    with session_scope(settings) as session:
        client, _ = keys.create(session, f"client-{uuid.uuid4().hex[:12]}")
        jobs.create_job(
            session,
            client_id=client.id,
            job_id=job_id,
            video=VideoInfo(duration_s=duration_s, fps=25.0, width=64, height=64),
            fps=2.0,
            chunk_s=10,
            recording_key=recording_key(job_id),
        )
    return job_id


def fake_frames(start_s: float, end_s: float) -> list[Frame]:
    frames = []
    t = start_s
    while t < end_s:
        probs = dict.fromkeys(EMOTIONS, 0.0) | {"neutral": 0.75, "happiness": 0.25}
        frames.append(Frame(t=round(t, 3), face=True, box=(1, 2, 30, 30), probs=probs))
        t += 0.5
    return frames


def counts(settings: Settings, job_id: uuid.UUID) -> tuple[int, int]:
    with session_scope(settings) as session:
        frames = session.scalar(select(func.count()).select_from(FrameEmotion).where(FrameEmotion.job_id == job_id))
        job = session.get(Job, job_id)
        return int(frames or 0), job.chunks_done if job else -1


def test_ranges_cover_the_recording_on_the_chunk_grid() -> None:
    assert jobs.plan_ranges(25.0, 10) == [(0, 10_000), (10_000, 20_000), (20_000, 25_000)]
    assert jobs.plan_ranges(20.0, 10) == [(0, 10_000), (10_000, 20_000)]
    assert jobs.plan_ranges(0.0, 60) == [(0, 0)]


def test_recording_a_chunk_twice_counts_it_once(settings: Settings) -> None:
    job_id = make_job(settings)
    with session_scope(settings) as session:
        assert jobs.mark_planned(session, job_id) == [0, 1, 2]
    with session_scope(settings) as session:
        assert jobs.mark_planned(session, job_id) is None, "a second plan must send nothing"
    for _ in range(2):
        with session_scope(settings) as session:
            assert jobs.claim_chunk(session, job_id, 1, worker="test:1") is not None
    frames = fake_frames(10, 20)
    with session_scope(settings) as session:
        assert jobs.record_chunk(session, job_id, 1, frames, run_ms=5)
    with session_scope(settings) as session:
        assert not jobs.record_chunk(session, job_id, 1, frames, run_ms=5)
    # A rerun that saw a frame the first run missed adds it, and duplicates none.
    with session_scope(settings) as session:
        session.execute(update(Chunk).where(Chunk.job_id == job_id, Chunk.index == 1).values(status="running"))
        assert jobs.record_chunk(session, job_id, 1, [*frames, *fake_frames(19.75, 20)], run_ms=5)
    assert counts(settings, job_id) == (len(frames) + 1, 2)
    with session_scope(settings) as session:
        assert jobs.claim_chunk(session, job_id, 1, worker="test:1") is None, "a done chunk is never leased"


def test_finishing_twice_writes_one_summary(settings: Settings) -> None:
    job_id = make_job(settings)
    for index in range(3):
        with session_scope(settings) as session:
            jobs.claim_chunk(session, job_id, index, worker="test:1")
        with session_scope(settings) as session:
            jobs.record_chunk(session, job_id, index, fake_frames(index * 10, min(25, index * 10 + 10)), run_ms=5)
    store = LocalStore(settings.storage_root)
    assert chunks.finish(settings, store, job_id)
    assert not chunks.finish(settings, store, job_id)
    with session_scope(settings) as session:
        summaries = list(session.scalars(select(JobSummary.analysis).where(JobSummary.job_id == job_id)))
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.SUCCEEDED
    assert len(summaries) == 1
    assert '"frames":50' in summaries[0].replace(" ", "")


def test_finish_waits_for_every_chunk(settings: Settings) -> None:
    job_id = make_job(settings)
    with session_scope(settings) as session:
        jobs.claim_chunk(session, job_id, 0, worker="test:1")
        jobs.record_chunk(session, job_id, 0, fake_frames(0, 10), run_ms=5)
    assert not chunks.finish(settings, LocalStore(settings.storage_root), job_id)
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.RUNNING


def test_a_chunk_that_keeps_failing_fails_the_job(settings: Settings, short_clip: Path) -> None:
    """Every lease counts, also one whose worker died: past the limit the job fails, with a reason."""
    job_id = make_job(settings, duration_s=2.4, with_recording=short_clip)
    for _ in range(settings.max_chunk_attempts):
        with session_scope(settings) as session:
            assert jobs.claim_chunk(session, job_id, 0, worker="test:1") is not None
    store = LocalStore(settings.storage_root)
    assert not chunks.analyze(settings, store, job_id, 0)
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.status, job.error_code) == (JobStatus.FAILED, "chunk_failed")
        assert job.error_message and "chunk 0" in job.error_message
        assert job.recording_key is None
    assert not store.exists(recording_key(job_id))


def test_an_unexpected_error_releases_the_chunk_for_a_retry(
    settings: Settings, short_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = make_job(settings, duration_s=2.4, with_recording=short_clip)

    def broken(*_: object, **__: object) -> object:
        raise MemoryError("simulated")

    monkeypatch.setattr(chunks, "analyze_samples", broken)
    with pytest.raises(chunks.ChunkFailed) as failure:
        chunks.analyze(settings, LocalStore(settings.storage_root), job_id, 0)
    assert failure.value.attempts == 1 and not failure.value.exhausted
    assert failure.value.backoff_s(30) == 2.0
    with session_scope(settings) as session:
        chunk = session.get(Chunk, (job_id, 0))
        assert chunk is not None and chunk.status == ChunkStatus.PENDING
    monkeypatch.undo()
    assert chunks.analyze(settings, LocalStore(settings.storage_root), job_id, 0)
    assert chunks.finish(settings, LocalStore(settings.storage_root), job_id)


def test_the_sweep_finds_lost_work(settings: Settings) -> None:
    unplanned = make_job(settings)
    stalled = make_job(settings)
    finishable = make_job(settings, duration_s=5.0)
    past = utcnow() - timedelta(hours=2)
    with session_scope(settings) as session:
        session.execute(update(Job).where(Job.id == unplanned).values(created_at=past))
        jobs.mark_planned(session, stalled)
        jobs.claim_chunk(session, stalled, 0, worker="gone:1")
        session.execute(update(Chunk).where(Chunk.job_id == stalled, Chunk.index == 0).values(leased_at=past))
        session.execute(update(Job).where(Job.id == stalled).values(planned_at=past, updated_at=past))
        jobs.mark_planned(session, finishable)
        jobs.claim_chunk(session, finishable, 0, worker="test:1")
        jobs.record_chunk(session, finishable, 0, fake_frames(0, 5), run_ms=5)
    found = chunks.sweep(settings)
    assert unplanned in found.plan
    assert [(stalled, 0), (stalled, 1), (stalled, 2)] == [c for c in found.chunks if c[0] == stalled]
    assert finishable in found.finish
    with session_scope(settings) as session:
        chunk = session.get(Chunk, (stalled, 0))
        assert chunk is not None and chunk.status == ChunkStatus.PENDING
    again = chunks.sweep(settings)
    assert not [c for c in again.chunks if c[0] == stalled], "resent once per lease, not every sweep"


def test_purge_deletes_expired_jobs_and_their_recordings(settings: Settings, short_clip: Path) -> None:
    expired = make_job(settings, duration_s=2.4, with_recording=short_clip)
    recent = make_job(settings, duration_s=2.4, with_recording=short_clip)
    with session_scope(settings) as session:
        for job_id, age_days in ((expired, settings.result_retention_days + 1), (recent, 1)):
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status=JobStatus.SUCCEEDED, finished_at=utcnow() - timedelta(days=age_days), retain_video=True)
            )
    store = LocalStore(settings.storage_root)
    assert chunks.purge(settings, store) >= 1
    with session_scope(settings) as session:
        assert session.get(Job, expired) is None
        assert session.get(Job, recent) is not None
    assert not store.exists(recording_key(expired))
    assert store.exists(recording_key(recent))


def test_a_restarted_embedded_queue_resumes_where_it_stopped(tmp_path: Path) -> None:
    """In its own SQLite file, as embedded mode runs: resuming releases the leases of every active
    job, which on the shared test database would take chunks from running Celery workers."""
    embedded = Settings(home=tmp_path, database_url=None, redis_url=None)
    prepare_database(embedded)
    job_id, ended = make_job(embedded), make_job(embedded)
    with session_scope(embedded) as session:
        for index in (0, 1):
            jobs.claim_chunk(session, job_id, index, worker="before-restart:1")
        jobs.record_chunk(session, job_id, 1, fake_frames(10, 20), run_ms=5)
        jobs.fail_job(session, ended, code="test", message="ended before the restart")
    with session_scope(embedded) as session:
        assert jobs.reclaim_active_jobs(session) == [job_id]
        chunk = session.get(Chunk, (job_id, 0))
        assert chunk is not None and chunk.status == ChunkStatus.PENDING and chunk.leased_at is None
    assert chunks.unfinished(embedded, job_id) == [0, 2]
    assert chunks.unfinished(embedded, ended) == []
