"""Thin Celery tasks over ``worker.chunks``: ids in, nothing out; Postgres holds the state.

Every task is safe to run twice (acks_late redelivery, the sweep resending), because the
functions it calls write idempotently. Only transient failures retry by exception type; a bad
recording fails its job instead, with a reason.
"""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from typing import Any

import httpx
from celery import Task, chord
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from emotrace.queue import CHUNK_TASK, FINISH_TASK, NOTIFY_TASK, PLAN_TASK, PURGE_TASK, SWEEP_TASK
from emotrace.settings import get_settings
from emotrace.storage import RecordingStore, make_store
from worker import chunks
from worker.app import celery_app

log = logging.getLogger(__name__)

# Database or broker briefly unreachable: worth retrying with backoff.
TRANSIENT = (OperationalError, RedisConnectionError, ConnectionError, TimeoutError)
MAX_RETRY_DELAY_S = 300
# Every job-state task: redelivered if its worker dies, retried with backoff on a transient error.
DURABLE: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "max_retries": 5,
}


@lru_cache
def _store() -> RecordingStore:
    return make_store(get_settings())


def _on_ended(job_id: uuid.UUID) -> None:
    notify_job.delay(str(job_id))


@celery_app.task(name=PLAN_TASK, **DURABLE)
def plan_job(job_id: str) -> None:
    """Fan a job out into chunk tasks joined by ``finish_job``; a second run sends nothing."""
    indexes = chunks.plan(get_settings(), uuid.UUID(job_id))
    if indexes:
        # Immutable signatures keep chunk results out of the callback (canvas.rst, chords).
        chord(analyze_chunk.si(job_id, index) for index in indexes)(finish_job.si(job_id))


@celery_app.task(bind=True, name=CHUNK_TASK, retry_backoff_max=MAX_RETRY_DELAY_S, **DURABLE)
def analyze_chunk(self: Task, job_id: str, index: int) -> None:
    settings = get_settings()
    try:
        chunks.analyze(settings, _store(), uuid.UUID(job_id), index, on_ended=_on_ended)
    except chunks.ChunkFailed as exc:
        # The retry that finds the chunk out of attempts fails the job (jobs.claim_chunk).
        raise self.retry(countdown=exc.backoff_s(MAX_RETRY_DELAY_S), max_retries=None) from exc


@celery_app.task(name=FINISH_TASK, **DURABLE)
def finish_job(job_id: str) -> None:
    """Checks Postgres that every chunk is done: a chord callback fired early does nothing, and
    the sweep finishes the job later."""
    chunks.finish(get_settings(), _store(), uuid.UUID(job_id), on_ended=_on_ended)


@celery_app.task(
    name=NOTIFY_TASK,
    acks_late=True,
    autoretry_for=(httpx.HTTPError, *TRANSIENT),
    retry_backoff=True,
    retry_backoff_max=MAX_RETRY_DELAY_S,
    max_retries=8,
)
def notify_job(job_id: str) -> None:
    chunks.notify(get_settings(), uuid.UUID(job_id))


@celery_app.task(name=SWEEP_TASK, acks_late=True)
def sweep_stalled() -> None:
    """Resend what a lost message left hanging: unplanned jobs, expired chunk leases, finished
    chunks whose callback never ran."""
    found = chunks.sweep(get_settings())
    for job_id in found.plan:
        plan_job.delay(str(job_id))
    for job_id, index in found.chunks:
        analyze_chunk.delay(str(job_id), index)
    for job_id in found.finish:
        finish_job.delay(str(job_id))


@celery_app.task(name=PURGE_TASK, acks_late=True)
def purge_expired() -> None:
    chunks.purge(get_settings(), _store())
