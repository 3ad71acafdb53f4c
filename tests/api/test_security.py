"""Security and privacy against the real service: per-client POST limits, keys at rest, and logs
that never carry what a client sent (recording bytes, names, transcript text, keys)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace.devstack import Processes
from emotrace.queue import CeleryQueue
from emotrace.ratelimit import MemoryRateLimiter
from emotrace.settings import Settings
from emotrace.storage import LocalStore
from tests.api.test_api import assert_error, upload
from tests.api.test_bad_inputs import GOOD
from tests.services import new_key, wait_for_job

ClientFactory = Callable[..., httpx.Client]
CLIENT_LOGGERS = ("httpx", "httpcore")


def test_memory_limiter_allows_a_burst_then_the_rate() -> None:
    limiter = MemoryRateLimiter(capacity=2, per_second=0.5)
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    wait = limiter.acquire("a")
    assert 1.5 < wait <= 2.0
    assert limiter.acquire("b") == 0.0  # buckets are per client


def test_job_creation_is_rate_limited_per_client(settings: Settings, workers: Processes) -> None:
    """A client over its burst gets 429 with Retry-After and no job; other clients and replays
    of an accepted POST (same Idempotency-Key) are unaffected."""
    strict = settings.model_copy(update={"post_burst": 2, "post_rate_per_minute": 1})
    app = create_app(strict, queue=CeleryQueue(strict), store=LocalStore(strict.storage_root))
    greedy, polite = new_key(settings), new_key(settings)
    with serve_in_thread(app) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {greedy}"}, timeout=60) as client:
            first = upload(client, GOOD, headers={"Idempotency-Key": "one"})
            second = upload(client, GOOD)
            assert (first.status_code, second.status_code) == (202, 202)
            refused = upload(client, GOOD)
            assert_error(refused, 429, "rate_limited")
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            replay = upload(client, GOOD, headers={"Idempotency-Key": "one"})
            assert (replay.status_code, replay.json()["id"]) == (202, first.json()["id"])
            assert len(client.get("/v1/jobs").json()["items"]) == 2
            assert client.get(f"/v1/jobs/{first.json()['id']}").status_code == 200  # reads are not limited
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {polite}"}, timeout=60) as client:
            assert upload(client, GOOD).status_code == 202


def test_keys_are_stored_only_as_digests(make_client: ClientFactory, database_url: str) -> None:
    client = make_client()
    key = client.headers["Authorization"].split()[1]
    with psycopg.connect(database_url) as conn:
        dump = json.dumps(conn.execute("SELECT * FROM api_key").fetchall(), default=str)
    assert key not in dump and key[12:] not in dump


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):  # the test's own HTTP client
            self.lines.append(self.format(record))


@pytest.fixture
def api_logs() -> Iterator[_Capture]:
    """Every record the API emits in this process, at DEBUG, tracebacks included."""
    capture = _Capture()
    root, emotrace_logger = logging.getLogger(), logging.getLogger("emotrace")
    levels = root.level, emotrace_logger.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    emotrace_logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(levels[0])
        emotrace_logger.setLevel(levels[1])


def test_logs_never_contain_client_data(
    make_client: ClientFactory,
    workers: Processes,
    service_home: Path,
    api_logs: _Capture,
    tmp_path: Path,
) -> None:
    """One successful job and a set of refused requests, each carrying marked client data; then
    the API's records and every worker's log file are searched for the marks."""
    canary = f"canary{uuid.uuid4().hex[:12]}"
    client = make_client()
    key = client.headers["Authorization"].split()[1]
    before = {path: path.stat().st_size for path in (service_home / "logs").glob("*.log")}
    transcript = json.dumps([{"start": 0.2, "end": 2.0, "speaker": f"{canary}-speaker", "text": f"{canary}-said"}])
    with GOOD.open("rb") as handle:
        response = client.post(
            "/v1/jobs",
            files={
                "file": (f"{canary}-patient.mp4", handle, "video/mp4"),
                "transcript": (f"{canary}-t.json", transcript, "application/json"),
            },
            data={"external_id": f"{canary}-mrn"},
            headers={"Idempotency-Key": f"{canary}-idem"},
        )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded"
    # Refused requests: their content must not reach the logs through error paths either.
    text = tmp_path / f"{canary}-notes.mp4"
    text.write_text(f"{canary}-content " * 100)
    assert upload(client, text).status_code == 415
    bad_transcript = f'[{{"start": "{canary}-start", "end": 1, "text": "{canary}-bad"}}]'
    with GOOD.open("rb") as handle:
        refused = client.post("/v1/jobs", files={"file": ("v.mp4", handle), "transcript": ("t.json", bad_transcript)})
        assert refused.status_code == 422
    assert upload(client, GOOD, external_id=f"{canary}\x00").status_code == 422
    assert httpx.get(str(client.base_url) + "/v1/jobs", headers={"Authorization": f"Bearer {key}x"}).status_code == 401

    worker_logs = []
    for path in sorted((service_home / "logs").glob("*.log")):
        with path.open("rb") as handle:
            handle.seek(before.get(path, 0))
            worker_logs.append(handle.read().decode("utf-8", "replace"))
    logs = "\n".join([*api_logs.lines, *worker_logs])
    assert job["id"] in logs, "the capture saw the job's own log lines"
    recording = GOOD.read_bytes()
    marks = [canary, key, key[:16], recording[1000:1032].hex(), recording[1000:1032].decode("latin-1")]
    leaked = [mark for mark in marks if mark in logs]
    assert not leaked, f"client data in the logs: {leaked}"
