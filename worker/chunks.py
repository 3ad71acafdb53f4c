"""The work behind every task, as plain functions: plan, analyse a chunk, finish, fail, sweep, purge.

Celery tasks (``worker/tasks.py``) and the embedded queue (``worker/embedded.py``) both call
these, so the embedded mode runs exactly the code the distributed one does. Each function opens
its own short transactions: the analysis of a chunk (seconds to minutes) runs outside any
transaction, between the one that leases the chunk and the one that records its frames.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from emotrace import jobs
from emotrace.db import session_scope
from emotrace.models import JobStatus
from emotrace.settings import Settings
from emotrace.storage import RecordingStore
from ml.classifier import EmotionClassifier
from ml.errors import VideoError
from ml.faces import make_detector
from ml.participants import track_participants
from ml.pipeline import analysis_settings, analyze_samples, default_detector
from ml.schema import VideoInfo

log = logging.getLogger(__name__)

OnEnded = Callable[[uuid.UUID], None]
"""Called with a job's id once it has ended (succeeded or failed), e.g. to send its callback."""

# An upload in progress writes at least every upload_idle_timeout_s, and storing it takes minutes at
# most: a staging file an hour old was left by an API process that died mid-upload.
STAGING_MAX_AGE_S = 3600

_classifier: EmotionClassifier | None = None
_classifier_lock = threading.Lock()


def get_classifier(settings: Settings) -> EmotionClassifier:
    """One ONNX Runtime session per process, loaded on first use and capped at
    ``worker_threads`` threads, so N worker processes on N cores do not oversubscribe them."""
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            _classifier = EmotionClassifier.load(threads=settings.worker_threads)
        return _classifier


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ChunkFailed(Exception):
    """An unexpected error in a chunk's analysis, the chunk back to pending: the caller runs
    :func:`analyze` again after a back-off. Once the chunk has used its attempts
    (``exhausted``), that next call fails the job (``jobs.claim_chunk``), so it need not wait."""

    def __init__(self, attempts: int, *, exhausted: bool) -> None:
        super().__init__(f"chunk analysis failed (attempt {attempts})")
        self.attempts = attempts
        self.exhausted = exhausted

    def backoff_s(self, cap_s: float) -> float:
        return 0.0 if self.exhausted else min(cap_s, 2.0**self.attempts)


def plan(settings: Settings, job_id: uuid.UUID) -> list[int]:
    """Chunk indexes to send for a newly submitted job; empty if it was planned already."""
    with session_scope(settings) as session:
        indexes = jobs.mark_planned(session, job_id)
    if indexes is None:
        return []
    log.info("job %s planned: %d chunks", job_id, len(indexes))
    return indexes


def unfinished(settings: Settings, job_id: uuid.UUID) -> list[int]:
    """Chunks of an active job not yet done (the embedded queue resumes from these)."""
    with session_scope(settings) as session:
        return jobs.unfinished_chunks(session, job_id)


def analyze(
    settings: Settings, store: RecordingStore, job_id: uuid.UUID, index: int, *, on_ended: OnEnded | None = None
) -> bool:
    """Analyse one chunk and record it; True if this call completed the chunk.

    A video error (a corrupt region, a recording cut short) fails the whole job: rerunning would
    fail the same way. Anything else raises :class:`ChunkFailed` with the chunk back to pending,
    for the caller to retry; a chunk leased more than ``max_chunk_attempts`` times (errors or
    worker crashes alike) fails the job.
    """
    with session_scope(settings) as session:
        claim = jobs.claim_chunk(session, job_id, index, worker=worker_name(), max_attempts=settings.max_chunk_attempts)
    if claim is None:
        return False
    if claim.exhausted:
        _failed(settings, store, job_id, "chunk_failed", on_ended)
        return False
    if claim.recording_key is None:
        _recording_missing(settings, store, job_id, on_ended)
        return False
    started = time.monotonic()
    try:
        with store.open_local(claim.recording_key) as path:
            samples = list(
                analyze_samples(
                    path,
                    fps=claim.fps,
                    start_s=claim.start_s,
                    end_s=claim.end_s,
                    detector=make_detector(
                        settings.detector or default_detector(claim.faces), yunet_model=settings.yunet_model
                    ),
                    classifier=get_classifier(settings),
                    faces=claim.faces,
                )
            )
        frames = [frame for frame, _ in samples]
        observations = [item for _, observed in samples for item in observed or []]
    except VideoError as exc:
        log.warning("job %s chunk %d: %s", job_id, index, exc.code)
        fail(settings, store, job_id, code=exc.code, message=str(exc), on_ended=on_ended)
        return False
    except FileNotFoundError:
        # Deleted under a running chunk: gone for good, retrying cannot bring it back.
        _recording_missing(settings, store, job_id, on_ended)
        return False
    except Exception as exc:
        log.exception("job %s chunk %d attempt %d failed", job_id, index, claim.attempts)
        with session_scope(settings) as session:
            jobs.release_chunk(session, job_id, index)
        raise ChunkFailed(claim.attempts, exhausted=claim.attempts >= settings.max_chunk_attempts) from exc
    run_ms = round((time.monotonic() - started) * 1000)
    with session_scope(settings) as session:
        counted = jobs.record_chunk(session, job_id, index, frames, run_ms=run_ms, observations=observations)
    log.info("job %s chunk %d: %d frames in %d ms (counted=%s)", job_id, index, len(frames), run_ms, counted)
    return counted


def _recording_missing(settings: Settings, store: RecordingStore, job_id: uuid.UUID, on_ended: OnEnded | None) -> None:
    fail(
        settings,
        store,
        job_id,
        code="recording_missing",
        message="the recording is no longer in storage",
        on_ended=on_ended,
    )


def finish(settings: Settings, store: RecordingStore, job_id: uuid.UUID, *, on_ended: OnEnded | None = None) -> bool:
    """Write the summary once every chunk is done; False (and nothing written) before that.

    The summary is ``build_analysis`` over all the job's frames in time order, which is what
    ``emotrace analyze`` computes for the whole file, so both give the same result.
    """
    from ml.aggregate import build_analysis

    with session_scope(settings) as session:
        job = jobs.get_any_job(session, job_id)
        if job is None or job.status not in jobs.ACTIVE or not jobs.all_chunks_done(session, job_id):
            return False
        video = VideoInfo.model_validate(job.video)
        observations = jobs.load_observations(session, job_id) if job.faces == "all" else None
        analysis = build_analysis(
            video=video,
            settings=analysis_settings(
                fps=job.fps,
                start_s=0.0,
                end_s=video.duration_s,
                detector=settings.detector or default_detector(job.faces),
                classifier=get_classifier(settings),
                faces=job.faces,
            ),
            frames=jobs.load_frames(session, job_id),
            transcript=jobs.transcript_cues(job),
            observations=observations,
        )
        if observations is not None:
            jobs.name_participants(session, job_id, track_participants(observations))
        done = jobs.complete_job(session, job_id, analysis.model_dump_json(exclude={"frames"}))
    if done is None:
        return False
    log.info("job %s succeeded: %d frames", job_id, analysis.summary.frames)
    release_recording(settings, store, job_id)
    if on_ended is not None:
        on_ended(job_id)
    return True


def fail(
    settings: Settings,
    store: RecordingStore,
    job_id: uuid.UUID,
    *,
    code: str,
    message: str,
    on_ended: OnEnded | None = None,
) -> bool:
    with session_scope(settings) as session:
        failed = jobs.fail_job(session, job_id, code=code, message=message)
    if failed is None:
        return False
    _failed(settings, store, job_id, code, on_ended)
    return True


def _failed(settings: Settings, store: RecordingStore, job_id: uuid.UUID, code: str, on_ended: OnEnded | None) -> None:
    """What follows a job's failure once it is committed: its recording goes, its client hears."""
    log.warning("job %s failed: %s", job_id, code)
    release_recording(settings, store, job_id)
    if on_ended is not None:
        on_ended(job_id)


def release_recording(settings: Settings, store: RecordingStore, job_id: uuid.UUID) -> None:
    """Delete an ended job's recording unless the client asked to keep it."""
    with session_scope(settings) as session:
        found = jobs.job_recording(session, job_id)
    if found is None:
        return
    key, retain = found
    if key is None or retain:
        return
    store.delete(key)
    with session_scope(settings) as session:
        jobs.forget_recording(session, job_id)


def callback_for(settings: Settings, job_id: uuid.UUID) -> tuple[str, bytes] | None:
    """The URL and body to notify for an ended job, if it registered a callback."""
    from emotrace import webhooks

    with session_scope(settings) as session:
        job = jobs.get_any_job(session, job_id)
        if job is None or job.callback_url is None or not JobStatus(job.status).is_terminal:
            return None
        return job.callback_url, webhooks.payload(job)


@dataclass
class Sweep:
    plan: list[uuid.UUID] = field(default_factory=list)
    chunks: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    finish: list[uuid.UUID] = field(default_factory=list)


def sweep(settings: Settings) -> Sweep:
    """What to send again so that a lost message never hangs a job: Postgres is the truth.

    Stalled chunks are put back to pending and their job touched, so one sweep resends them and
    the next waits another lease before resending again.
    """
    found = Sweep()
    lease = timedelta(seconds=settings.chunk_lease_s)
    with session_scope(settings) as session:
        found.plan = jobs.unplanned_jobs(session, older_than=timedelta(seconds=settings.submit_grace_s))
        found.chunks = jobs.stalled_chunks(session, lease=lease)
        for job_id, index in found.chunks:
            jobs.release_chunk(session, job_id, index)
        for job_id in {job_id for job_id, _ in found.chunks}:
            jobs.touch_job(session, job_id)
        found.finish = jobs.finishable_jobs(session)
    if found.plan or found.chunks or found.finish:
        log.info(
            "sweep: %d jobs to plan, %d chunks to resend, %d jobs to finish",
            len(found.plan),
            len(found.chunks),
            len(found.finish),
        )
    return found


def purge(settings: Settings, store: RecordingStore) -> int:
    """Delete jobs that ended more than ``result_retention_days`` ago, recordings included, and
    uploads abandoned in the staging area."""
    retention = timedelta(days=settings.result_retention_days)
    with session_scope(settings) as session:
        expired = jobs.expired_jobs(session, retention=retention)
    for job_id in expired:
        with session_scope(settings) as session:
            found = jobs.job_recording(session, job_id)
        if found is not None and found[0] is not None:
            store.delete(found[0])
        with session_scope(settings) as session:
            jobs.delete_job(session, job_id)
    cutoff = time.time() - STAGING_MAX_AGE_S
    for staged in store.staging_dir().glob("*"):
        try:
            if staged.is_file() and staged.stat().st_mtime < cutoff:
                staged.unlink()
        except OSError:
            continue
    if expired:
        log.info("purged %d expired jobs", len(expired))
    return len(expired)


def notify(settings: Settings, job_id: uuid.UUID) -> bool:
    """Deliver an ended job's callback, if it has one; raises on failure so callers can retry."""
    from emotrace import webhooks

    found = callback_for(settings, job_id)
    if found is None:
        return False
    url, body = found
    webhooks.deliver(settings, url, body)
    log.info("job %s callback delivered", job_id)
    return True
