"""POST /v1/jobs/{id}/cancel against the real service: the job stays, as `cancelled`, and its
recording and results go; work in flight is discarded, work not started never starts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace import jobs
from emotrace.db import session_scope
from emotrace.devstack import Processes
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore, recording_key
from ml.schema import Frame
from tests.api.test_api import assert_error, upload
from tests.e2e.test_jobs_e2e import row_counts, running_job, wait_until_idle
from tests.services import new_key, wait_for_job
from worker import chunks

ClientFactory = Callable[..., httpx.Client]


@pytest.fixture
def held_api(idle_queue_settings: Settings, settings: Settings) -> Iterator[httpx.Client]:
    """The API over the test database with a broker no worker reads: a job stays queued until
    the test itself plays the worker's part."""
    app = create_app(
        idle_queue_settings, queue=CeleryQueue(idle_queue_settings), store=LocalStore(settings.storage_root)
    )
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {new_key(settings)}"}, timeout=60) as client,
    ):
        yield client


def test_cancel_keeps_the_job_and_drops_its_recording_and_results(
    held_api: httpx.Client, settings: Settings, sample_video: Path
) -> None:
    client = held_api
    job_id = upload(client, sample_video).json()["id"]
    key = uuid.UUID(job_id)
    store = LocalStore(settings.storage_root)
    assert store.exists(recording_key(key))
    # A worker is half way through chunk 0 (leased as a worker leases it); chunk 1 has not begun.
    with session_scope(settings) as session:
        assert jobs.claim_chunk(session, key, 0, worker="test:1") is not None

    answer = client.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 200, answer.text
    cancelled = answer.json()
    assert (cancelled["status"], cancelled["error"], cancelled["chunks_done"]) == ("cancelled", None, 0)
    assert cancelled["finished_at"] is not None
    assert not store.exists(recording_key(key))

    # The chunk in flight finishes: its frames are thrown away. The other is never analysed.
    frames = [Frame(t=0.0, face=False, box=None, probs=None)]
    with session_scope(settings) as session:
        assert jobs.record_chunk(session, key, 0, frames, run_ms=10) is False
    assert chunks.analyze(settings, store, key, 1) is False
    assert chunks.finish(settings, store, key) is False

    assert client.get(f"/v1/jobs/{job_id}").json() == cancelled
    assert [job["status"] for job in client.get("/v1/jobs").json()["items"]] == ["cancelled"]
    assert_error(client.get(f"/v1/jobs/{job_id}/summary"), 409, "job_not_finished")
    assert client.get(f"/v1/jobs/{job_id}/frames").json() == {"items": [], "next_cursor": None}
    assert row_counts(settings, job_id) == {"job": 1, "chunk": 2, "frame_emotion": 0, "job_summary": 0}

    assert_error(client.post(f"/v1/jobs/{job_id}/cancel"), 409, "job_finished")
    assert client.get(f"/v1/jobs/{job_id}").json() == cancelled
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert row_counts(settings, job_id)["job"] == 0


def test_only_the_owner_can_cancel(held_api: httpx.Client, make_client: ClientFactory, sample_video: Path) -> None:
    job_id = upload(held_api, sample_video).json()["id"]
    stranger = make_client()
    assert_error(stranger.post(f"/v1/jobs/{job_id}/cancel"), 404, "job_not_found")
    assert_error(stranger.post(f"/v1/jobs/{uuid.uuid4()}/cancel"), 404, "job_not_found")
    assert held_api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    assert held_api.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"


def test_a_finished_job_cannot_be_cancelled(
    make_client: ClientFactory, workers: Processes, sample_video: Path, settings: Settings
) -> None:
    client = make_client()
    job_id = upload(client, sample_video).json()["id"]
    succeeded = wait_for_job(client, job_id)
    assert succeeded["status"] == "succeeded"
    assert_error(client.post(f"/v1/jobs/{job_id}/cancel"), 409, "job_finished")
    assert client.get(f"/v1/jobs/{job_id}").json() == succeeded
    assert client.get(f"/v1/jobs/{job_id}/summary").status_code == 200


def test_cancelling_a_running_job_stops_its_workers(
    make_client: ClientFactory,
    workers: Processes,
    settings: Settings,
    long_clip: Path,
    sample_video: Path,
    redis_url: str,
) -> None:
    client = make_client()
    job_id = running_job(client, long_clip)
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    # A later job completes after the cancelled job's chunks have been taken off the queue.
    later = upload(client, sample_video).json()["id"]
    assert wait_for_job(client, later)["status"] == "succeeded"
    wait_until_idle(redis_url)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["progress"] < 1
    assert row_counts(settings, job_id) == {"job": 1, "chunk": 4, "frame_emotion": 0, "job_summary": 0}
    assert not LocalStore(settings.storage_root).exists(recording_key(uuid.UUID(job_id)))
