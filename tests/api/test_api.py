"""The REST contract against the real API, Postgres, Redis and workers: auth, tenancy, every bad
input, pagination, idempotency, error bodies, probes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace import jobs, keys
from emotrace.db import session_scope
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore
from ml.schema import VideoInfo

JOB_FIELDS = {
    "id",
    "status",
    "progress",
    "chunks_done",
    "chunks_total",
    "external_id",
    "fps",
    "retain_video",
    "faces",
    "created_at",
    "started_at",
    "finished_at",
    "video",
    "error",
}

ClientFactory = Callable[..., httpx.Client]


def upload(client: httpx.Client, path: Path, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    with path.open("rb") as handle:
        return client.post("/v1/jobs", files={"file": (path.name, handle, "video/mp4")}, data=fields, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code, body
    assert body["message"]


def staged_files(settings: Settings) -> list[Path]:
    return [p for p in LocalStore(settings.storage_root).staging_dir().iterdir() if p.is_file()]


def queued_job(settings: Settings, client_name: str | None = None) -> tuple[str, uuid.UUID, uuid.UUID]:
    """A key, its client id and a queued job created straight in the database, never submitted:
    a job that stays unfinished for as long as the test needs."""
    with session_scope(settings) as session:
        client, key = keys.create(session, client_name or f"client-{uuid.uuid4().hex[:12]}")
        job_id = uuid.uuid4()
        jobs.create_job(
            session,
            client_id=client.id,
            job_id=job_id,
            video=VideoInfo(duration_s=25.0, fps=25.0, width=64, height=64),
            fps=2.0,
            chunk_s=10,
            recording_key=f"recordings/{job_id}",
        )
        return key, client.id, job_id


def test_openapi_and_docs(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json").json()
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/summary", "/v1/jobs/{job_id}/frames"):
        assert path in spec["paths"]
    post = spec["paths"]["/v1/jobs"]["post"]
    assert {"202", "401", "413", "415", "422"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert "<html" in httpx.get(f"{api_url}/docs").text.lower()


def test_the_documented_fps_is_the_enforced_one(settings: Settings) -> None:
    """Settings other than the defaults, so a number written into the form schema shows up."""
    custom = settings.model_copy(update={"default_fps": 3.5, "max_sample_fps": 7.0})
    for current in (settings, custom):
        app = create_app(current, queue=CeleryQueue(current), store=LocalStore(current.storage_root))
        post = app.openapi()["paths"]["/v1/jobs"]["post"]
        fps = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["fps"]
        assert (fps["default"], fps["maximum"]) == (current.default_fps, current.max_sample_fps)


def test_probes_and_metrics(api_url: str) -> None:
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api_url}/readyz").json() == {"status": "ready"}
    metrics = httpx.get(f"{api_url}/metrics")
    assert metrics.status_code == 200
    for name in ("emotrace_jobs{", "emotrace_chunk_run_seconds_bucket", "emotrace_queue_depth{"):
        assert name in metrics.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer et_not-a-real-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "unknown", "not-bearer"],
)
def test_requests_without_a_valid_key_are_refused(api_url: str, headers: dict[str, str]) -> None:
    assert_error(httpx.get(f"{api_url}/v1/jobs", headers=headers), 401, "unauthorized")
    assert_error(httpx.get(f"{api_url}/v1/jobs/{uuid.uuid4()}", headers=headers), 401, "unauthorized")


def test_upload_returns_a_queued_job(make_client: ClientFactory, short_clip: Path, workers: object) -> None:
    client = make_client()
    response = upload(client, short_clip, fps="4", external_id="session-17", retain_video="false")
    assert response.status_code == 202, response.text
    job = response.json()
    assert set(job) == JOB_FIELDS
    assert job["status"] in ("queued", "running", "succeeded")
    assert job["external_id"] == "session-17"
    assert job["fps"] == 4.0
    assert job["retain_video"] is False
    assert job["chunks_total"] == 1
    assert job["video"]["width"] == 640 and job["video"]["height"] == 360
    assert job["error"] is None
    listed = client.get("/v1/jobs").json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    assert client.get(f"/v1/jobs/{job['id']}").json()["id"] == job["id"]


def test_retried_post_with_the_same_idempotency_key_returns_the_same_job(
    make_client: ClientFactory, short_clip: Path, workers: object
) -> None:
    client = make_client()
    first = upload(client, short_clip, headers={"Idempotency-Key": "upload-1"})
    second = upload(client, short_clip, headers={"Idempotency-Key": "upload-1"})
    other = upload(client, short_clip, headers={"Idempotency-Key": "upload-2"})
    assert first.status_code == second.status_code == other.status_code == 202
    assert first.json()["id"] == second.json()["id"] != other.json()["id"]
    assert len(client.get("/v1/jobs").json()["items"]) == 2
    # The same key from another client is another job: keys are per client.
    assert upload(make_client(), short_clip, headers={"Idempotency-Key": "upload-1"}).json()["id"] != first.json()["id"]


def test_missing_file_and_wrong_content_type(make_client: ClientFactory) -> None:
    client = make_client()
    assert_error(client.post("/v1/jobs", data={"fps": "2"}, files={"other": ("a", b"b")}), 422, "invalid_parameter")
    assert_error(client.post("/v1/jobs", json={"fps": 2}), 415, "unsupported_content_type")


def test_too_large_upload_is_refused_early(settings: Settings, short_clip: Path) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    app = create_app(small, queue=CeleryQueue(small), store=LocalStore(small.storage_root))
    key = queued_job(settings)[0]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        assert short_clip.stat().st_size > 64 * 1024
        assert_error(upload(client, short_clip), 413, "upload_too_large")
        # The connection stays usable: the server read the rest of the body and answered.
        assert client.get("/v1/jobs").status_code == 200
    assert staged_files(settings) == []


def test_another_clients_job_is_not_found(make_client: ClientFactory, settings: Settings) -> None:
    owner_key, _, job_id = queued_job(settings)
    owner, stranger = make_client(owner_key), make_client()
    assert owner.get(f"/v1/jobs/{job_id}").status_code == 200
    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/summary"),
        ("GET", f"/v1/jobs/{job_id}/frames"),
        ("DELETE", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{uuid.uuid4()}"),
        ("GET", "/v1/jobs/not-a-uuid"),
    ]:
        assert_error(stranger.request(method, path), 404, "job_not_found")
    assert stranger.get("/v1/jobs").json()["items"] == []
    assert owner.get(f"/v1/jobs/{job_id}").status_code == 200  # the stranger's DELETE did nothing


def test_results_of_an_unfinished_job(make_client: ClientFactory, settings: Settings) -> None:
    key, _, job_id = queued_job(settings)
    client = make_client(key)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert (job["status"], job["progress"], job["chunks_done"], job["chunks_total"]) == ("queued", 0.0, 0, 3)
    assert_error(client.get(f"/v1/jobs/{job_id}/summary"), 409, "job_not_finished")
    assert client.get(f"/v1/jobs/{job_id}/frames").json() == {"items": [], "next_cursor": None}


def test_job_list_is_paginated_newest_first(make_client: ClientFactory, settings: Settings) -> None:
    key, client_id, first = queued_job(settings)
    ids = [first]
    with session_scope(settings) as session:
        for _ in range(4):
            job_id = uuid.uuid4()
            jobs.create_job(
                session,
                client_id=client_id,
                job_id=job_id,
                video=VideoInfo(duration_s=5.0, fps=25.0, width=64, height=64),
                fps=2.0,
                chunk_s=10,
                recording_key=f"recordings/{job_id}",
            )
            session.flush()
            ids.append(job_id)
    client = make_client(key)
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(job_id) for job_id in reversed(ids)]
    assert_error(client.get("/v1/jobs", params={"cursor": "garbage!"}), 422, "invalid_parameter")
    assert_error(client.get("/v1/jobs", params={"limit": 0}), 422, "invalid_parameter")


def test_framework_errors_have_the_same_body(make_client: ClientFactory, settings: Settings) -> None:
    key, _, job_id = queued_job(settings)
    client = make_client(key)
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/v1/jobs"), 405, "method_not_allowed")
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"start": -1}), 422, "invalid_parameter")
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"start": 5, "end": 2}), 422, "invalid_parameter")
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"limit": 10_001}), 422, "invalid_parameter")
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"cursor": "e30"}), 422, "invalid_parameter")


def test_web_page_is_served_when_built(api_url: str) -> None:
    index = Path(__file__).resolve().parents[2] / "api" / "static" / "index.html"
    if not index.is_file():
        pytest.skip("the web page is not built into api/static")
    response = httpx.get(f"{api_url}/")
    assert response.status_code == 200 and "<html" in response.text.lower()


def test_the_api_never_loads_the_model_or_the_workers() -> None:
    """An API process enqueues by task name; ONNX Runtime and worker code stay out of it."""
    import subprocess
    import sys

    probe_imports = (
        "import sys, api.app, api.server, emotrace.queue, emotrace.storage;"
        "loaded = [m for m in sys.modules if m == 'onnxruntime' or m.split('.')[0] in ('worker', 'tensorflow')];"
        "print(loaded)"
    )
    result = subprocess.run([sys.executable, "-c", probe_imports], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_an_upload_cut_off_by_the_client_leaves_nothing_behind(
    api_url: str, settings: Settings, short_clip: Path
) -> None:
    import socket
    import time
    from urllib.parse import urlsplit

    key = queued_job(settings)[0]
    boundary = "emotrace-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    body = head + short_clip.read_bytes()[:50_000]
    request = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body) + 10_000_000}\r\n\r\n"
    ).encode()
    address = urlsplit(api_url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(request + body)
        deadline = time.monotonic() + 10
        while not staged_files(settings):  # the server has started writing the upload
            assert time.monotonic() < deadline, "the upload never reached staging"
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while staged_files(settings):
        assert time.monotonic() < deadline, "a partial upload was left in staging"
        time.sleep(0.05)
    assert httpx.get(f"{api_url}/healthz").status_code == 200


def test_a_burst_larger_than_the_connection_pool_is_served(make_client: ClientFactory, settings: Settings) -> None:
    """More concurrent requests than the API has threads and pooled connections together: every
    one is answered, none waits for the pool's timeout (a request must never hold a database
    connection while it waits for a thread)."""
    import asyncio
    import time

    key, _, job_id = queued_job(settings)
    base_url = str(make_client(key).base_url)

    async def burst() -> list[int | str]:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=20, limits=limits
        ) as client:

            async def one() -> int | str:
                try:
                    return (await client.get(f"/v1/jobs/{job_id}")).status_code
                except httpx.HTTPError as exc:
                    return type(exc).__name__

            return list(await asyncio.gather(*(one() for _ in range(400))))

    started = time.monotonic()
    results = asyncio.run(burst())
    assert set(results) == {200}, {str(result): results.count(result) for result in set(results)}
    assert time.monotonic() - started < 20
