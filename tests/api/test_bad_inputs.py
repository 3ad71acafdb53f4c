"""The bad-input corpus (tests/corpus, built by tests/corpus/build.py) and every other way a
request can be wrong, against the real service. Each item gets its documented status and error
body, and nothing else changes: no job, no staged or stored file, no row of another client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from emotrace import keys
from emotrace.db import session_scope
from emotrace.models import Chunk, FrameEmotion, Job
from emotrace.settings import Settings
from tests.api.test_api import assert_error, staged_files, upload
from tests.services import wait_for_job, wait_until_deleted

ClientFactory = Callable[..., httpx.Client]
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GOOD = CORPUS / "good.mp4"
INJECTIONS = [
    "'; DROP TABLE job; --",
    '" OR 1=1 --',
    "1; SELECT pg_sleep(5)",
    '{"$ne": null}',
    '"}, "status": "succeeded", "x": {"',
    "<script>alert(1)</script>",
    "%00%27%22",
    "ünïcødé \u202e gnirts",
]


@dataclass(frozen=True)
class State:
    """What a rejected request must leave as it was."""

    jobs: int
    chunks: int
    frames: int
    stored: frozenset[str]
    staged: int
    bystander: str


def snapshot(settings: Settings, bystander: httpx.Client, bystander_job: str) -> State:
    with session_scope(settings) as session:
        job_count = session.scalar(select(func.count()).select_from(Job)) or 0
        chunks = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.job_id == uuid.UUID(bystander_job)))
        frames = session.scalar(
            select(func.count()).select_from(FrameEmotion).where(FrameEmotion.job_id == uuid.UUID(bystander_job))
        )
    root = settings.storage_root
    stored = frozenset(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "incoming" not in p.parts)
    view = [
        bystander.get(f"/v1/jobs/{bystander_job}").json(),
        bystander.get(f"/v1/jobs/{bystander_job}/summary").json(),
        bystander.get(f"/v1/jobs/{bystander_job}/frames", params={"limit": 10_000}).json(),
    ]
    return State(job_count, chunks or 0, frames or 0, stored, len(staged_files(settings)), json.dumps(view))


@pytest.fixture(scope="module")
def bystander(api_url: str, settings: Settings, workers: object) -> Iterator[tuple[httpx.Client, str]]:
    """Another client with a finished job, whose data every bad request must leave untouched."""
    with session_scope(settings) as session:
        _, key = keys.create(session, f"bystander-{uuid.uuid4().hex[:8]}")
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        job = upload(client, GOOD, external_id="bystander").raise_for_status().json()
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
        yield client, job["id"]


@pytest.fixture
def unchanged(settings: Settings, bystander: tuple[httpx.Client, str]) -> Iterator[None]:
    """Asserts, after the test, that the database, storage and the bystander's data are as before."""
    before = snapshot(settings, *bystander)
    yield
    assert snapshot(settings, *bystander) == before


def multipart(
    filename: bytes, content: bytes, fields: dict[str, str] | None = None, boundary: str = "b0undary"
) -> tuple[bytes, dict[str, str]]:
    """A form built byte by byte, so a filename can carry what httpx would escape."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: video/mp4\r\n\r\n'
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# -- the corpus: files that are not usable recordings -------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("empty.mp4", 415, "not_a_video"),
        ("text.mp4", 415, "not_a_video"),
        ("header_only.mp4", 415, "truncated_video"),
        ("truncated.mp4", 415, "truncated_video"),
        ("audio_only.m4a", 415, "no_video_stream"),
        ("zero_frames.mp4", 415, "no_video_stream"),
        ("zero_duration.mkv", 422, "empty_video"),
        ("huge_dimensions.avi", 415, "not_a_video"),
    ],
)
def test_corpus_file_is_refused(
    make_client: ClientFactory, settings: Settings, unchanged: None, name: str, status: int, code: str
) -> None:
    client = make_client()
    response = upload(client, CORPUS / name)
    assert_error(response, status, code)
    assert name not in response.text  # the client's filename is never echoed (nor stored, nor logged)
    assert client.get("/v1/jobs").json()["items"] == []


@pytest.mark.parametrize("name", ["partial.mp4", "corrupt_middle.mp4"])
def test_file_that_decodes_partly_fails_its_job_with_a_reason(
    make_client: ClientFactory, settings: Settings, workers: object, name: str
) -> None:
    """The header is intact, so the upload is accepted; decoding stops part-way in a worker. The
    job fails with the reason, its recording is deleted, and other jobs go on."""
    client = make_client()
    job = upload(client, CORPUS / name).raise_for_status().json()
    ended = wait_for_job(client, job["id"])
    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "truncated_video", ended["error"]
    wait_until_deleted(settings, job["id"])
    assert_error(client.get(f"/v1/jobs/{job['id']}/summary"), 409, "job_not_finished")


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"fps": "0"}, "invalid_parameter"),
        ({"fps": "-2"}, "invalid_parameter"),
        ({"fps": "10.5"}, "invalid_parameter"),
        ({"fps": "1e400"}, "invalid_parameter"),
        ({"fps": "inf"}, "invalid_parameter"),
        ({"fps": "nan"}, "invalid_parameter"),
        ({"fps": "fast"}, "invalid_parameter"),
        ({"fps": "2; DROP TABLE job"}, "invalid_parameter"),
        ({"external_id": "x" * 201}, "invalid_parameter"),
        ({"external_id": "a\x00b"}, "invalid_parameter"),
        ({"external_id": "line\r\nbreak"}, "invalid_parameter"),
        ({"retain_video": "perhaps"}, "invalid_parameter"),
        ({"faces": "everyone"}, "invalid_parameter"),
        ({"callback_url": "http://evil.example.org/hook"}, "callback_not_allowed"),
        ({"callback_url": "ftp://127.0.0.1/hook"}, "invalid_parameter"),
        ({"callback_url": "file:///etc/passwd"}, "invalid_parameter"),
        ({"callback_url": "javascript:alert(1)"}, "invalid_parameter"),
        ({"callback_url": "http://127.0.0.1/" + "x" * 5000}, "invalid_parameter"),
    ],
)
def test_bad_parameter_is_refused(
    make_client: ClientFactory, unchanged: None, fields: dict[str, str], code: str
) -> None:
    client = make_client()
    assert_error(upload(client, GOOD, headers=None, **fields), 422, code)
    assert client.get("/v1/jobs").json()["items"] == []


@pytest.mark.parametrize(
    "query",
    [
        {"start": "-1"},
        {"start": "nan"},
        {"end": "inf"},
        {"start": "5", "end": "2"},
        {"start": "1e400"},
        {"start": "soon"},
        {"limit": "0"},
        {"limit": "10001"},
        {"cursor": "'; DROP TABLE frame_emotion; --"},
        {"cursor": "x" * 201},
    ],
)
def test_bad_frame_query_is_refused(
    bystander: tuple[httpx.Client, str], unchanged: None, query: dict[str, str]
) -> None:
    client, job_id = bystander
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params=query), 422, "invalid_parameter")


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"this is not a transcript", "t.txt"),
        (b'[{"start": 5, "end": 2, "text": "backwards"}]', "t.json"),
        (b'[{"start": "NaN", "end": 2, "text": "x"}]', "t.json"),
        (b'{"segments": "nope"}', "t.json"),
        (b"WEBVTT\n\n00:00:05.000 --> 00:00:01.000\nbackwards\n", "t.vtt"),
        (b"1\n00:00:99,000 --> 00:01:00,000\nbad clock\n", "t.srt"),
        (b"\xff\xfe\x00", "t.vtt"),
        (b"[" * 100_000, "t.json"),
        (b"WEBVTT\n\n" + b"00:00:01.000 --> 00:00:02.000\nwords\n\n" * 200_000, "t.vtt"),
    ],
    ids=["prose", "backwards", "nan", "shape", "vtt-backwards", "srt-clock", "binary", "nesting", "too-large"],
)
def test_malformed_transcript_is_refused(
    make_client: ClientFactory, unchanged: None, content: bytes, filename: str
) -> None:
    client = make_client()
    with GOOD.open("rb") as handle:
        response = client.post(
            "/v1/jobs", files={"file": ("v.mp4", handle, "video/mp4"), "transcript": (filename, content, "text/plain")}
        )
    assert_error(response, 422, "bad_transcript")
    assert client.get("/v1/jobs").json()["items"] == []


# -- names and text fields: accepted as data, never as paths or code -----------------------------


@pytest.mark.parametrize(
    "filename",
    [
        b"../../../../etc/passwd",
        b"..\\..\\windows\\system32\\config.mp4",
        b"/absolute/path.mp4",
        b"nul\x00byte.mp4",
        b"bell\x07\x1b[31mred.mp4",
        b"line\nbreak.mp4",
        b"%2e%2e%2fescape.mp4",
        "ünïcødé \u202egnp4.mp4".encode(),
        b"x" * 4000 + b".mp4",
    ],
    ids=["traversal", "backslashes", "absolute", "nul", "escapes", "newline", "encoded", "unicode", "long"],
)
def test_hostile_filename_is_only_a_name(
    make_client: ClientFactory, settings: Settings, workers: object, filename: bytes
) -> None:
    """The recording is stored under a key made from the job id; the client's filename is never
    used as a path, stored or echoed."""
    client = make_client()
    root = settings.home
    before = {p for p in root.rglob("*") if p.is_file()}
    body, headers = multipart(filename, GOOD.read_bytes())
    response = client.post("/v1/jobs", content=body, headers=headers)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert filename.decode("utf-8", "replace") not in response.text
    added = {p for p in root.rglob("*") if p.is_file()} - before
    assert all(job_id in str(p) or "logs" in p.parts for p in added), added
    assert wait_for_job(client, job_id)["status"] == "succeeded"


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_text_fields_is_stored_as_text(
    make_client: ClientFactory, bystander: tuple[httpx.Client, str], settings: Settings, text: str
) -> None:
    """SQL, JSON and markup in every client-set text field: the job is created, the text comes
    back verbatim, and every table and every other client's data is intact."""
    before = snapshot(settings, *bystander)
    client = make_client()
    transcript = json.dumps([{"start": 0.5, "end": 1.5, "speaker": text, "text": text}])
    with GOOD.open("rb") as handle:
        response = client.post(
            "/v1/jobs",
            files={"file": (text, handle, "video/mp4"), "transcript": ("t.json", transcript, "application/json")},
            data={"external_id": text},
            headers={"Idempotency-Key": text.encode("utf-8").hex()},
        )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["external_id"] == text
    assert wait_for_job(client, job["id"])["status"] == "succeeded"
    summary = client.get(f"/v1/jobs/{job['id']}/summary").json()
    assert [cue["text"] for cue in summary["transcript"]] == [text]
    assert client.get("/v1/jobs", params={"cursor": text}).status_code == 422
    # "/" in the id, even escaped, leaves the route: the router's own 404, same body shape.
    assert_error(client.get(f"/v1/jobs/{quote(text, safe='')}"), 404, "not_found" if "/" in text else "job_not_found")
    after = snapshot(settings, *bystander)
    assert (after.jobs, after.bystander) == (before.jobs + 1, before.bystander)


# -- who is asking -------------------------------------------------------------------------------


def test_missing_invalid_and_revoked_keys_are_refused(
    api_url: str, settings: Settings, bystander: tuple[httpx.Client, str], unchanged: None
) -> None:
    _, job_id = bystander
    with session_scope(settings) as session:
        _, revoked = keys.create(session, f"revoked-{uuid.uuid4().hex[:8]}")
    with session_scope(settings) as session:
        keys.revoke(session, revoked)
    headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer " + "k" * 10_000},
        {"Authorization": "Bearer ' OR '1'='1"},
        {"Authorization": f"Bearer {revoked}"},
        {"Authorization": f"bearer {revoked}"},
    ]
    for header in headers:
        for method, path in [("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{job_id}"), ("DELETE", f"/v1/jobs/{job_id}")]:
            response = httpx.request(method, api_url + path, headers=header)
            assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"] == "Bearer"
        with GOOD.open("rb") as handle:
            response = httpx.post(api_url + "/v1/jobs", headers=header, files={"file": ("v.mp4", handle)})
        assert_error(response, 401, "unauthorized")


def test_another_clients_job_id_is_not_found(
    make_client: ClientFactory, bystander: tuple[httpx.Client, str], unchanged: None
) -> None:
    stranger = make_client()
    _, job_id = bystander
    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/summary"),
        ("GET", f"/v1/jobs/{job_id}/frames"),
        ("DELETE", f"/v1/jobs/{job_id}"),
    ]:
        assert_error(stranger.request(method, path), 404, "job_not_found")
    assert stranger.get("/v1/jobs").json()["items"] == []


# -- how it arrives ------------------------------------------------------------------------------


def test_stalled_upload_is_cut_off_and_others_are_served(
    settings: Settings, make_client: ClientFactory, unchanged: None
) -> None:
    """A client that stops sending mid-body gets 408 after the idle timeout and its staging file
    is removed; meanwhile the server answers everyone else."""
    import socket
    import time
    from urllib.parse import urlsplit

    from api.app import create_app
    from api.server import serve_in_thread
    from emotrace.queue import CeleryQueue
    from emotrace.storage import LocalStore

    impatient = settings.model_copy(update={"upload_idle_timeout_s": 1.0})
    app = create_app(impatient, queue=CeleryQueue(impatient), store=LocalStore(impatient.storage_root))
    key = make_client().headers["Authorization"].split()[1]
    body, headers = multipart(b"slow.mp4", GOOD.read_bytes())
    with serve_in_thread(app) as url:
        address = urlsplit(url)
        request = (
            f"POST /v1/jobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(request + body[: len(body) // 2])
            started = time.monotonic()
            assert httpx.get(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert time.monotonic() - started < 1.0  # served while the upload stalls
            reply = sock.recv(65536).decode("latin-1")
        assert reply.startswith("HTTP/1.1 408"), reply
        assert json.loads(reply.split("\r\n\r\n", 1)[1])["code"] == "upload_timeout"
    assert staged_files(settings) == []
