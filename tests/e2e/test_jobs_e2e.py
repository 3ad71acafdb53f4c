"""Whole jobs through the real service: upload, two Celery workers, Postgres, results, deletion,
crash recovery, a corrupt recording, callbacks, and the sweep that resubmits a lost job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from celery import Celery
from sqlalchemy import func, select

from emotrace import jobs, keys, webhooks
from emotrace.db import get_engine, session_scope
from emotrace.devstack import Processes, run_cli
from emotrace.models import Chunk, ChunkStatus, FrameEmotion, Job, JobStatus, JobSummary
from emotrace.queue import SWEEP_TASK
from emotrace.settings import Settings
from emotrace.storage import LocalStore, recording_key
from ml.video import probe
from tests.api.test_api import upload
from tests.services import WEBHOOK_SECRET, wait_for_job, wait_until_deleted

ClientFactory = Callable[..., httpx.Client]

TRANSCRIPT_VTT = """WEBVTT

00:00:01.000 --> 00:00:06.500
<v client>I have been sleeping badly.

00:00:12.000 --> 00:00:21.000
<v therapist>What happens when you wake up?
"""


def analyze_cli(path: Path, tmp_path: Path, env: dict[str, str], *args: str) -> tuple[dict[str, object], str]:
    """`emotrace analyze` on the same file: the JSON and the CSV it writes."""
    out_json, out_csv = tmp_path / "analysis.json", tmp_path / "frames.csv"
    result = run_cli("analyze", str(path), "--json", str(out_json), "--csv", str(out_csv), *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(out_json.read_text()), out_csv.read_text()


def all_frames(client: httpx.Client, job_id: str, limit: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/jobs/{job_id}/frames", params=params).raise_for_status().json()
        frames += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return frames


def chunk_rows(settings: Settings, job_id: str) -> list[Chunk]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Chunk).where(Chunk.job_id == uuid.UUID(job_id)).order_by(Chunk.index)))


def row_counts(settings: Settings, job_id: str) -> dict[str, int]:
    key = uuid.UUID(job_id)
    columns = {
        "job": Job.id,
        "chunk": Chunk.job_id,
        "frame_emotion": FrameEmotion.job_id,
        "job_summary": JobSummary.job_id,
    }
    with session_scope(settings) as session:
        return {
            name: int(session.scalar(select(func.count()).where(column == key)) or 0)
            for name, column in columns.items()
        }


def test_two_workers_give_the_result_of_emotrace_analyze(
    make_client: ClientFactory,
    workers: Processes,
    settings: Settings,
    service_env: dict[str, str],
    long_clip: Path,
    tmp_path: Path,
) -> None:
    client = make_client()
    with long_clip.open("rb") as video:
        response = client.post(
            "/v1/jobs",
            files={"file": ("session.mp4", video, "video/mp4"), "transcript": ("t.vtt", TRANSCRIPT_VTT, "text/vtt")},
            data={"external_id": "case-4", "fps": "2"},
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    assert (job["progress"], job["chunks_done"], job["chunks_total"]) == (1.0, 4, 4)
    assert job["started_at"] and job["finished_at"] and job["finished_at"] >= job["started_at"]

    transcript = tmp_path / "t.vtt"
    transcript.write_text(TRANSCRIPT_VTT)
    expected, expected_csv = analyze_cli(long_clip, tmp_path, service_env, "--transcript", str(transcript))
    expected_frames = expected.pop("frames")

    summary = client.get(f"/v1/jobs/{job_id}/summary").raise_for_status().json()
    assert summary == expected
    assert summary["transcript"] is not None and len(summary["transcript"]) == 2
    assert all_frames(client, job_id, limit=25) == expected_frames
    csv_response = client.get(f"/v1/jobs/{job_id}/frames", headers={"Accept": "text/csv"})
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.text == expected_csv
    window = client.get(f"/v1/jobs/{job_id}/frames", params={"start": 10, "end": 12.5}).json()["items"]
    assert [frame["t"] for frame in window] == [10.0, 10.5, 11.0, 11.5, 12.0]

    chunks = chunk_rows(settings, job_id)
    assert {chunk.status for chunk in chunks} == {ChunkStatus.DONE}
    assert sum(chunk.frames or 0 for chunk in chunks) == len(expected_frames)
    by_worker = {chunk.worker for chunk in chunks}
    assert len(by_worker) >= 2, f"one process did every chunk: {by_worker}"
    spans = [(chunk.worker, chunk.leased_at, chunk.finished_at) for chunk in chunks]
    overlapping = any(
        wa != wb and sa and sb and ea and eb and sa < eb and sb < ea for wa, sa, ea in spans for wb, sb, eb in spans
    )
    assert overlapping, "no two chunks ran at the same time"
    wait_until_deleted(settings, job_id)


def test_delete_removes_the_recording_and_every_result(
    make_client: ClientFactory, workers: Processes, settings: Settings, short_clip: Path
) -> None:
    client = make_client()
    job_id = upload(client, short_clip, retain_video="true").json()["id"]
    assert wait_for_job(client, job_id)["status"] == "succeeded"
    store = LocalStore(settings.storage_root)
    key = recording_key(uuid.UUID(job_id))
    assert store.exists(key), "retain_video keeps the recording"
    assert row_counts(settings, job_id) == {"job": 1, "chunk": 1, "frame_emotion": 5, "job_summary": 1}

    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert row_counts(settings, job_id) == {"job": 0, "chunk": 0, "frame_emotion": 0, "job_summary": 0}
    assert not store.exists(key)
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 404


def wait_until_idle(redis_url: str, timeout_s: float = 60.0) -> None:
    """Every worker reports no active task."""
    control = Celery(broker=redis_url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            active = control.control.inspect(timeout=1.0).active() or {}
            if active and not any(active.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"workers still busy: {active}")
            time.sleep(0.2)
    finally:
        control.close()


def running_job(client: httpx.Client, clip: Path) -> str:
    """A job of ``clip`` (at 6 samples/s: several seconds of work per chunk) that a worker has begun."""
    job_id: str = upload(client, clip, fps="6").json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job_id


def test_deleting_a_running_job_cancels_it(
    make_client: ClientFactory,
    workers: Processes,
    settings: Settings,
    long_clip: Path,
    short_clip: Path,
    redis_url: str,
) -> None:
    client = make_client()
    job_id = running_job(client, long_clip)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    # A later job completes after the cancelled job's chunks have been taken off the queue.
    later = upload(client, short_clip).json()["id"]
    assert wait_for_job(client, later)["status"] == "succeeded"
    wait_until_idle(redis_url)
    assert row_counts(settings, job_id) == {"job": 0, "chunk": 0, "frame_emotion": 0, "job_summary": 0}
    wait_until_deleted(settings, job_id)


def test_a_killed_worker_loses_no_frames_and_adds_none(
    make_client: ClientFactory,
    workers: Processes,
    settings: Settings,
    service_env: dict[str, str],
    long_clip: Path,
    tmp_path: Path,
) -> None:
    client = make_client()
    job_id = upload(client, long_clip, fps="8").json()["id"]
    deadline = time.monotonic() + 90
    victim: Chunk | None = None
    while victim is None:
        assert time.monotonic() < deadline, "no chunk was seen running"
        victim = next((c for c in chunk_rows(settings, job_id) if c.status == ChunkStatus.RUNNING), None)
        time.sleep(0.02)
    pid = int(str(victim.worker).rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)  # the prefork child mid-chunk: its message must be redelivered

    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    chunks = chunk_rows(settings, job_id)
    assert sum(chunk.attempts for chunk in chunks) > len(chunks), "no chunk was run twice"
    frames = all_frames(client, job_id, limit=1000)
    expected, _ = analyze_cli(long_clip, tmp_path, service_env, "--fps", "8")
    assert frames == expected["frames"]


def test_a_chunk_that_kills_its_worker_every_time_fails_only_its_job(
    make_client: ClientFactory, workers: Processes, settings: Settings, long_clip: Path, short_clip: Path
) -> None:
    """Chunk 1's worker is killed on every attempt (as a recording that crashes the decoder would):
    after EMOTRACE_MAX_CHUNK_ATTEMPTS leases the job fails with chunk_failed, and another client's
    job submitted at the same time succeeds."""
    poisoned, bystander = make_client(), make_client()
    # At the highest sample rate a lease of chunk 1 lasts about a second; the watcher below reads
    # Postgres directly every few milliseconds, so no lease can start and finish unseen.
    job_id = upload(poisoned, long_clip, fps=f"{settings.max_sample_fps:g}").json()["id"]
    other_id = upload(bystander, short_clip).json()["id"]
    killed: set[int] = set()
    deadline = time.monotonic() + 120
    key = uuid.UUID(job_id)
    with get_engine(settings).connect() as conn:
        while True:
            status = conn.scalar(select(Job.status).where(Job.id == key))
            lease = conn.execute(
                select(Chunk.status, Chunk.worker).where(Chunk.job_id == key, Chunk.index == 1)
            ).first()
            conn.commit()  # a fresh snapshot on the next read
            if status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                break
            assert time.monotonic() < deadline, f"the job did not fail; killed {sorted(killed)}"
            if lease is not None and lease.status == ChunkStatus.RUNNING and lease.worker:
                pid = int(str(lease.worker).rsplit(":", 1)[1])
                if pid not in killed:
                    killed.add(pid)
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
    job = poisoned.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "chunk_failed", job
    assert "chunk 1" in job["error"]["message"]
    # The lease past the limit fails the job at once; the loop may catch that one too before it does.
    assert settings.max_chunk_attempts <= len(killed) <= settings.max_chunk_attempts + 1, killed
    assert wait_for_job(bystander, other_id)["status"] == "succeeded"
    wait_until_deleted(settings, job_id)


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    arrived: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def callback_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received, _Receiver.arrived = [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/emotrace"
    finally:
        server.shutdown()
        server.server_close()


def test_completion_callback_is_signed(
    make_client: ClientFactory, workers: Processes, short_clip: Path, callback_url: str
) -> None:
    client = make_client()
    job_id = upload(client, short_clip, callback_url=callback_url, external_id="cb-1").json()["id"]
    assert wait_for_job(client, job_id)["status"] == "succeeded"
    assert _Receiver.arrived.wait(60), "no callback arrived"
    headers, body = _Receiver.received[0]
    assert webhooks.verify(body, headers[webhooks.SIGNATURE_HEADER], WEBHOOK_SECRET)
    assert not webhooks.verify(body + b" ", headers[webhooks.SIGNATURE_HEADER], WEBHOOK_SECRET)
    event = json.loads(body)
    assert event["type"] == "job.succeeded"
    assert (event["job"]["id"], event["job"]["external_id"], event["job"]["error"]) == (job_id, "cb-1", None)


def test_the_sweep_submits_a_job_the_broker_never_got(
    make_client: ClientFactory, workers: Processes, settings: Settings, short_clip: Path, redis_url: str
) -> None:
    """A job committed while Redis was down: no message exists, only the row. The periodic sweep
    (run here once, through a worker) finds it and the job completes."""
    store = LocalStore(settings.storage_root)
    with session_scope(settings) as session:
        client_row, key = keys.create(session, f"client-{uuid.uuid4().hex[:12]}")
        job_id = uuid.uuid4()
        staged = store.staging_dir() / f"{job_id.hex}.upload"
        staged.write_bytes(short_clip.read_bytes())
        store.put(recording_key(job_id), staged)
        job = jobs.create_job(
            session,
            client_id=client_row.id,
            job_id=job_id,
            video=probe(store.root / recording_key(job_id)),
            fps=2.0,
            chunk_s=settings.chunk_seconds,
            recording_key=recording_key(job_id),
        )
        job.created_at = job.created_at.replace(year=job.created_at.year - 1)  # long past the grace period
    client = make_client(key)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    sender = Celery(broker=redis_url)
    try:
        sender.send_task(SWEEP_TASK, queue="emotrace.control")
    finally:
        sender.close()
    assert wait_for_job(client, str(job_id))["status"] == "succeeded"


def test_worker_processes_yield_the_cpu_to_the_api(workers: Processes, settings: Settings) -> None:
    """The prefork children that run chunks are niced (EMOTRACE_WORKER_NICE), the API is not."""
    for process in workers.processes.values():
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert children, "no pool child"
        assert all(os.getpriority(os.PRIO_PROCESS, int(pid)) >= settings.worker_nice for pid in children)
    assert os.getpriority(os.PRIO_PROCESS, 0) < settings.worker_nice
