"""Faults injected into a running service: Redis and PostgreSQL crash and come back mid-job, the
API is killed with uploads and polls in flight, and twenty jobs arrive at once from four clients.

No job may be lost or stuck, every sampled frame must be stored exactly once (the results equal
`emotrace analyze` on the same file), and clients must see retriable errors (503, a dropped
connection), never a 500 or wrong data. The crash tests run on a private stack (tests/e2e/
faults.py) so the machine's own Postgres and Redis are never restarted.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emotrace.devstack import (
    Processes,
    celery_worker_command,
    create_database,
    database_url_for,
    free_port,
    run_cli,
    start_api,
    start_beat,
)
from emotrace.settings import Settings
from emotrace.storage import LocalStore
from tests.api.test_api import upload
from tests.e2e.faults import PrivatePostgres, PrivateRedis
from tests.e2e.test_jobs_e2e import all_frames, analyze_cli
from tests.services import new_key, settings_from_env, wait_for_job
from worker import chunks

ClientFactory = Callable[..., httpx.Client]
JOB_TIMEOUT_S = 240.0
FPS = "6"  # chunks of ~3 s of work: a crash lands mid-job


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    processes: Processes
    settings: Settings
    api_port: int
    url: str

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Private Postgres and Redis, the API, two workers and beat, with a fast sweep so that lost
    messages are resent within seconds (production: a 30-s sweep and 15-min leases)."""
    home = tmp_path_factory.mktemp("faults-home")
    postgres = PrivatePostgres().init()
    redis_server = PrivateRedis().start()
    processes: Processes | None = None
    try:
        database_url = database_url_for(postgres.url, create_database(postgres.url, "emotrace"))
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "EMOTRACE_HOME": str(home),
            "EMOTRACE_CHUNK_SECONDS": "10",
            "EMOTRACE_WEBHOOK_SECRET": "faults-" + uuid.uuid4().hex,
            "EMOTRACE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "EMOTRACE_WORKER_THREADS": "1",
            "EMOTRACE_CHUNK_LEASE_S": "10",
            "EMOTRACE_VISIBILITY_TIMEOUT_S": "30",
            "EMOTRACE_SWEEP_INTERVAL_S": "2",
            "EMOTRACE_SUBMIT_GRACE_S": "3",
            "EMOTRACE_LOG_LEVEL": "INFO",
        }
        migrated = run_cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        (home / "logs").mkdir()
        processes = Processes(env, home / "logs")
        port = free_port()
        url = start_api(processes, port)
        for name in ("w1", "w2"):
            processes.start(name, celery_worker_command(name))
        start_beat(processes, home / "beat-schedule")
        yield Stack(postgres, redis_server, processes, settings_from_env(env), port, url)
    finally:
        if processes is not None:
            processes.stop_all()
        redis_server.crash()
        postgres.destroy()


@pytest.fixture(scope="module")
def expected_long(long_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The frames `emotrace analyze` gives for the clip the crash tests upload."""
    analysis, _ = analyze_cli(long_clip, tmp_path_factory.mktemp("expected"), dict(os.environ), "--fps", FPS)
    frames = analysis["frames"]
    assert isinstance(frames, list)
    return frames


def wait_for_progress(client: httpx.Client, job_id: str, chunks: int) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while client.get(f"/v1/jobs/{job_id}").json()["chunks_done"] < chunks:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.1)


def patient_wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Poll as a client should: 503 and dropped connections are answered by retrying."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        try:
            response = client.get(f"/v1/jobs/{job_id}")
        except httpx.TransportError:
            response = None
        if response is not None:
            assert response.status_code in (200, 503), response.text
            if response.status_code == 200 and response.json()["status"] in ("succeeded", "failed"):
                return dict(response.json())
        assert time.monotonic() < deadline, f"job {job_id} is stuck"
        time.sleep(0.25)


def assert_exactly_analyze(client: httpx.Client, job_id: str, expected: list[dict[str, Any]]) -> None:
    frames = all_frames(client, job_id, limit=1000)
    assert [frame["t"] for frame in frames] == sorted({frame["t"] for frame in frames}), "a frame stored twice"
    assert frames == expected


def test_redis_crash_mid_job_loses_no_job(stack: Stack, long_clip: Path, expected_long: list[dict[str, Any]]) -> None:
    """Redis restarts empty: queued chunk messages and the chord are gone. Polls keep working
    (they read Postgres), a job posted during the outage is accepted, and the sweep resends what
    was lost."""
    with stack.client(new_key(stack.settings)) as client:
        running = upload(client, long_clip, fps=FPS).raise_for_status().json()["id"]
        wait_for_progress(client, running, 1)
        stack.redis.crash()
        during = client.get(f"/v1/jobs/{running}")
        assert (during.status_code, during.json()["status"]) == (200, "running"), during.text
        posted = upload(client, long_clip, fps=FPS)
        assert posted.status_code == 202, posted.text
        time.sleep(2)
        stack.redis.start()
        for job_id in (running, posted.json()["id"]):
            job = patient_wait(client, job_id)
            assert job["status"] == "succeeded", job
            assert_exactly_analyze(client, job_id, expected_long)
    assert "sweep:" in stack.processes.log("w1") + stack.processes.log("w2"), "nothing was resent"


def test_postgres_crash_mid_job_loses_no_job(
    stack: Stack, long_clip: Path, expected_long: list[dict[str, Any]]
) -> None:
    """Postgres stops without a checkpoint mid-job and comes back: requests during the outage
    get 503 with Retry-After (never 500), workers retry their writes, the job completes once."""
    with stack.client(new_key(stack.settings)) as client:
        job_id = upload(client, long_clip, fps=FPS).raise_for_status().json()["id"]
        wait_for_progress(client, job_id, 1)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
        stack.postgres.crash()
        try:
            for response in (client.get(f"/v1/jobs/{job_id}"), upload(client, long_clip)):
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "database_unavailable"
                assert int(response.headers["Retry-After"]) >= 1
            time.sleep(2)
        finally:
            stack.postgres.start()
        job = patient_wait(client, job_id)
        assert job["status"] == "succeeded", job
        assert_exactly_analyze(client, job_id, expected_long)
        assert len(client.get("/v1/jobs").json()["items"]) == 1  # the refused POST made nothing


def test_api_killed_with_uploads_and_polls_in_flight(
    stack: Stack, long_clip: Path, expected_long: list[dict[str, Any]]
) -> None:
    """kill -9 of the API mid-upload: the uploader sees a dropped connection and retries with the
    same Idempotency-Key; exactly one job results. Pollers see dropped connections, never a
    wrong answer; the job that was running goes on in the workers."""
    key = new_key(stack.settings)
    with stack.client(key) as client:
        running = upload(client, long_clip, fps=FPS).raise_for_status().json()["id"]
        data = long_clip.read_bytes()
        sent = threading.Event()
        upload_errors: list[BaseException] = []

        def trickle() -> Iterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]
                sent.set()
                time.sleep(0.1)

        def slow_upload() -> None:
            boundary = "faults-boundary"
            head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.mp4"\r\n\r\n').encode()

            def body() -> Iterator[bytes]:
                yield head
                yield from trickle()
                yield f"\r\n--{boundary}--\r\n".encode()

            try:
                with stack.client(key) as uploader:
                    uploader.post(
                        "/v1/jobs",
                        content=body(),
                        headers={
                            "Content-Type": f"multipart/form-data; boundary={boundary}",
                            "Idempotency-Key": "visit-7",
                        },
                    )
            except BaseException as exc:
                upload_errors.append(exc)

        poll_results: list[int | str] = []
        stop = threading.Event()

        def poll() -> None:
            with stack.client(key) as poller:
                while not stop.is_set():
                    try:
                        response = poller.get(f"/v1/jobs/{running}")
                        assert response.json()["id"] == running
                        poll_results.append(response.status_code)
                    except httpx.TransportError as exc:
                        poll_results.append(type(exc).__name__)
                    time.sleep(0.02)

        threads = [threading.Thread(target=slow_upload), threading.Thread(target=poll)]
        for thread in threads:
            thread.start()
        assert sent.wait(30)
        time.sleep(0.3)
        assert client.get(f"/v1/jobs/{running}").json()["status"] in ("queued", "running")
        stack.processes.kill("api")
        time.sleep(1)
        start_api(stack.processes, stack.api_port)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(60)

        assert upload_errors and isinstance(upload_errors[0], httpx.TransportError), upload_errors
        assert any(isinstance(result, str) for result in poll_results), "no poll met the dead API"
        assert {result for result in poll_results if isinstance(result, int)} == {200}
        retried = [upload(client, long_clip, fps=FPS, headers={"Idempotency-Key": "visit-7"}) for _ in range(2)]
        assert [response.status_code for response in retried] == [202, 202]
        assert retried[0].json()["id"] == retried[1].json()["id"]
        for job_id in (running, retried[0].json()["id"]):
            job = patient_wait(client, job_id)
            assert job["status"] == "succeeded", job
            assert_exactly_analyze(client, job_id, expected_long)
        assert len(client.get("/v1/jobs").json()["items"]) == 2
    # The killed upload's partial file is all that is left, and the hourly purge takes it.
    store = LocalStore(stack.settings.storage_root)
    orphans = [path for path in store.staging_dir().iterdir() if path.is_file()]
    assert len(orphans) <= 1, orphans
    aged = time.time() - chunks.STAGING_MAX_AGE_S - 60
    for path in orphans:
        os.utime(path, (aged, aged))
    chunks.purge(stack.settings, store)
    assert not any(store.staging_dir().iterdir())


def test_twenty_jobs_from_four_clients_at_once(
    make_client: ClientFactory,
    workers: Processes,
    short_clip: Path,
    tmp_path: Path,
) -> None:
    """Each client sees exactly its five jobs, each with its own external id and the frames
    `emotrace analyze` gives for the file."""
    expected, _ = analyze_cli(short_clip, tmp_path, dict(os.environ))
    clients = {f"c{index}": make_client() for index in range(4)}
    submissions = [(name, f"{name}-visit-{number}") for name in clients for number in range(5)]

    def submit(item: tuple[str, str]) -> tuple[str, str, str]:
        name, external_id = item
        response = upload(clients[name], short_clip, external_id=external_id)
        assert response.status_code == 202, response.text
        return name, external_id, response.json()["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        created = list(pool.map(submit, submissions))
    for name, external_id, job_id in created:
        job = wait_for_job(clients[name], job_id, timeout_s=JOB_TIMEOUT_S)
        assert (job["status"], job["external_id"]) == ("succeeded", external_id), job
        assert all_frames(clients[name], job_id, limit=1000) == expected["frames"]
    for name, client in clients.items():
        listed = client.get("/v1/jobs").json()["items"]
        assert sorted(job["external_id"] for job in listed) == sorted(e for n, e, _ in created if n == name)
        others = [job_id for n, _, job_id in created if n != name]
        assert all(client.get(f"/v1/jobs/{job_id}").status_code == 404 for job_id in others[:5])
