"""emotrace.client against the real service (Postgres, Redis, Celery workers; the API on a thread):
a whole job through every call, the API's errors as exceptions, and the retries a platform needs,
after a real 429 from the rate limiter and a real 503 from a database that refuses connections."""

from __future__ import annotations

import csv
import io
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace import keys
from emotrace.client import ApiError, Client, Job, JobFailed, retry_after_seconds
from emotrace.db import get_engine, session_scope
from emotrace.devstack import Processes, create_database, database_url_for, drop_database, run_cli
from emotrace.queue import CeleryQueue
from emotrace.ratelimit import MemoryRateLimiter
from emotrace.settings import Settings
from emotrace.storage import LocalStore
from ml.report import CSV_HEADER
from tests.services import PG_ADMIN_URL, new_key

TRANSCRIPT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v client>I have not slept well this week.

00:00:06.000 --> 00:00:11.500
<v therapist>What keeps you awake?
"""


class Exchanges:
    """Every request the client's httpx connection sends, with the answer's status."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, str | None]] = []
        self._lock = threading.Lock()

    def hook(self, response: httpx.Response) -> None:
        request = response.request
        with self._lock:
            self.seen.append(
                (request.method, request.url.path, response.status_code, request.headers.get("Idempotency-Key"))
            )

    def statuses(self, method: str) -> list[int]:
        return [status for seen_method, _, status, _ in self.seen if seen_method == method]


def recorded_client(url: str, key: str) -> tuple[Client, Exchanges, list[float]]:
    """A Client whose HTTP exchanges and waits are recorded (it still really sleeps)."""
    exchanges = Exchanges()
    http = httpx.Client(base_url=url, timeout=60, event_hooks={"response": [exchanges.hook]})
    client = Client(url, key, http=http)
    waits: list[float] = []
    real_sleep = client.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    client.sleep = sleep
    return client, exchanges, waits


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) == 1.0 and retry_after_seconds("soon") == 1.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


def test_client_runs_a_job_through_every_call(
    api_url: str, workers: Processes, settings: Settings, sample_video: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "session.vtt"
    transcript.write_text(TRANSCRIPT)
    key = new_key(settings)
    size = sample_video.stat().st_size
    sent: list[tuple[int, int]] = []
    polled: list[Job] = []
    with Client(api_url, key) as api, httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {key}"}) as raw:
        job = api.submit(
            sample_video,
            fps=2,
            transcript=transcript,
            external_id="session-2291",
            on_progress=lambda done, total: sent.append((done, total)),
        )
        assert (job.status, job.external_id, job.chunks_done) == ("queued", "session-2291", 0)
        assert job.chunks_total >= 2  # 20 s in 10-s chunks
        assert len(sent) > 1 and sent[-1] == (size, size) and {total for _, total in sent} == {size}
        assert [done for done, _ in sent] == sorted(done for done, _ in sent)

        done = api.wait(job.id, on_progress=polled.append, timeout_s=300)
        assert done.status == "succeeded" and done.progress == 1.0 and done.error is None
        assert polled[-1] == done and all(p.id == job.id for p in polled)

        analysis = api.summary(job.id)
        assert analysis == raw.get(f"/v1/jobs/{job.id}/summary").json()
        assert [cue["speaker"] for cue in analysis["transcript"]] == ["client", "therapist"]

        every = raw.get(f"/v1/jobs/{job.id}/frames", params={"limit": 10_000}).json()["items"]
        assert len(every) == analysis["summary"]["frames"] > 20
        assert list(api.iter_frames(job.id, page_size=7)) == every  # several pages, in order
        assert list(api.iter_frames(job.id, start=5, end=10.5, page_size=3)) == [
            frame for frame in every if 5 <= frame["t"] < 10.5
        ]

        text = api.frames_csv(job.id)
        assert text == raw.get(f"/v1/jobs/{job.id}/frames", headers={"Accept": "text/csv"}).text
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(CSV_HEADER) and len(rows) == len(every) + 1
        api.frames_csv(job.id, tmp_path / "frames.csv")
        assert (tmp_path / "frames.csv").read_text() == text
        window = io.BytesIO()
        api.frames_csv(job.id, window, start=5, end=10.5)
        assert len(window.getvalue().decode().splitlines()) == 1 + sum(5 <= f["t"] < 10.5 for f in every)

        assert [listed.id for listed in api.iter_jobs(page_size=1)] == [job.id]
        api.delete(job.id)
        with pytest.raises(ApiError) as gone:
            api.job(job.id)
        assert (gone.value.status, gone.value.code) == (404, "job_not_found")


def test_api_errors_are_raised_with_their_code_and_never_retried(
    api_url: str, settings: Settings, tmp_path: Path
) -> None:
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_bytes(b"these bytes are a text file, not a recording\n" * 100)
    api, exchanges, waits = recorded_client(api_url, new_key(settings))
    with api:
        with pytest.raises(ApiError) as refused:
            api.submit(not_a_video)
        assert (refused.value.status, refused.value.code) == (415, "not_a_video")
        assert refused.value.message
        with pytest.raises(ApiError) as unknown:
            api.summary(str(uuid.uuid4()))
        assert unknown.value.code == "job_not_found"
    with Client(api_url, "et_" + "x" * 43) as stranger, pytest.raises(ApiError) as unauthorized:
        stranger.job(str(uuid.uuid4()))
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")
    assert waits == [] and exchanges.statuses("POST") == [415]


def test_a_rate_limited_submit_is_retried_after_retry_after_with_the_same_key(
    settings: Settings, workers: Processes, sample_video: Path
) -> None:
    """The bucket is emptied just before the upload and refills one token per 4 s: the first
    attempt is refused (429, Retry-After 4, or 3 on a machine slow enough to take a second
    between the two) however fast the machine, and the attempt after that wait is accepted."""
    limiter = MemoryRateLimiter(capacity=1, per_second=0.25)
    app = create_app(
        settings, queue=CeleryQueue(settings), store=LocalStore(settings.storage_root), rate_limiter=limiter
    )
    with session_scope(settings) as session:
        client_row, key = keys.create(session, f"limited-{uuid.uuid4().hex[:12]}")
        client_id = str(client_row.id)
    with serve_in_thread(app) as url:
        api, exchanges, waits = recorded_client(url, key)
        with api:
            assert limiter.acquire(client_id) == 0.0  # the only token: the next POST must wait
            job = api.submit(sample_video, idempotency_key="session-7")
            assert exchanges.statuses("POST") == [429, 202]
            assert len(waits) == 1 and 3.0 <= waits[0] <= 4.0
            assert {sent for method, _, _, sent in exchanges.seen if method == "POST"} == {"session-7"}
            assert [listed.id for listed in api.iter_jobs()] == [job.id]
            # A resubmission with the same key is the same job, and costs no token.
            assert api.submit(sample_video, idempotency_key="session-7").id == job.id
            assert exchanges.statuses("POST") == [429, 202, 202]


@pytest.fixture
def lockable_database(idle_queue_settings: Settings) -> Iterator[tuple[Settings, str]]:
    """A database of its own (migrated), that a test may lock against new connections; its
    jobs go to a broker no worker reads, since the workers serve the session's database."""
    settings = idle_queue_settings
    name = create_database(PG_ADMIN_URL, "emotrace_lock")
    url = database_url_for(PG_ADMIN_URL, name)
    try:
        result = run_cli("migrate", env={**os.environ, "DATABASE_URL": url, "EMOTRACE_HOME": str(settings.home)})
        assert result.returncode == 0, result.stderr
        yield settings.model_copy(update={"database_url": url}), name
    finally:
        get_engine(settings.model_copy(update={"database_url": url})).dispose()
        drop_database(PG_ADMIN_URL, name)


def _lock_out(name: str, locked: bool) -> None:
    """What a Postgres restart looks like to the API: connections dropped, new ones refused."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"false" if locked else "true"}')
        if locked:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def test_requests_are_retried_after_a_503_from_a_lost_database(
    lockable_database: tuple[Settings, str], sample_video: Path
) -> None:
    """The database goes away; each call meets a real 503 and succeeds once it is back. The
    client's first wait is where the database comes back, so each sees exactly one 503."""
    settings, name = lockable_database
    app = create_app(settings, queue=CeleryQueue(settings), store=LocalStore(settings.storage_root))
    with session_scope(settings) as session:
        _, key = keys.create(session, "platform")
    with serve_in_thread(app) as url:
        api, exchanges, waits = recorded_client(url, key)
        real_sleep = api.sleep

        def database_back_then_sleep(seconds: float) -> None:
            _lock_out(name, locked=False)
            real_sleep(seconds)

        api.sleep = database_back_then_sleep
        with api:
            job = api.submit(sample_video, idempotency_key="before-outage")
            _lock_out(name, locked=True)
            assert api.job(job.id).status == "queued"
            assert exchanges.statuses("GET") == [503, 200] and waits == [1.0]

            _lock_out(name, locked=True)
            replay = api.submit(sample_video, idempotency_key="during-outage")
            assert len(waits) == 2  # one refused attempt (a 503, or the connection closed under it)
            assert [listed.id for listed in api.iter_jobs()] == [replay.id, job.id]


def test_wait_raises_for_a_job_that_ended_without_results(
    api_url: str, workers: Processes, settings: Settings, sample_video: Path
) -> None:
    with Client(api_url, new_key(settings)) as api:
        job = api.submit(sample_video)
        cancelled = api.cancel(job.id)
        assert cancelled.status == "cancelled"
        with pytest.raises(JobFailed) as ended:
            api.wait(job.id, timeout_s=30)
        assert (ended.value.code, ended.value.job.status) == ("cancelled", "cancelled")
        assert api.wait(job.id, raise_on_failure=False).status == "cancelled"


def test_wait_gives_up_after_its_timeout(api_url: str, settings: Settings, sample_video: Path) -> None:
    """No worker is asked for here, but the session's may be running: the job is cancelled
    right after the timeout so that it leaves nothing behind."""
    polls: list[Any] = []
    with Client(api_url, new_key(settings)) as api:
        job = api.submit(sample_video, fps=10)
        try:
            with pytest.raises(TimeoutError):
                api.wait(job.id, timeout_s=0.3, min_interval_s=0.1, on_progress=polls.append)
        finally:
            try:
                api.cancel(job.id)
            except ApiError as exc:
                assert exc.code == "job_finished"
    assert len(polls) >= 2
