"""Recording storage: keys never come from clients, a missing recording is not an error to
delete, and the S3 store speaks the S3 API (checked with botocore's own request stubber)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.server import serve_in_thread
from emotrace.settings import Settings
from emotrace.storage import LocalStore, S3Store, recording_key
from tests.services import new_key, wait_for_job
from worker.embedded import EmbeddedQueue


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    key = recording_key(uuid.uuid4())
    staged = store.staging_dir() / "upload"
    staged.write_bytes(b"video bytes")
    store.put(key, staged)
    assert not staged.exists() and store.exists(key)
    with store.open_local(key) as path:
        assert path.read_bytes() == b"video bytes"
    store.delete(key)
    store.delete(key)
    assert not store.exists(key)
    store.check()


@pytest.mark.parametrize("key", ["../etc/passwd", "recordings/../../x", "recordings/session.mp4", "/abs"])
def test_keys_that_are_not_ours_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        LocalStore(tmp_path).exists(key)


def test_s3_store_requests(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3", reason="the s3 extra is not installed")
    from botocore.stub import Stubber

    settings = Settings(home=tmp_path, storage_backend="s3", s3_bucket="recordings", s3_prefix="et/")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    store = S3Store(settings, client=client)
    key = recording_key(uuid.uuid4())
    with Stubber(client) as stub:
        stub.add_response("head_object", {"ContentLength": 3}, {"Bucket": "recordings", "Key": f"et/{key}"})
        stub.add_client_error("head_object", "404", expected_params={"Bucket": "recordings", "Key": f"et/{key}"})
        stub.add_response("delete_object", {}, {"Bucket": "recordings", "Key": f"et/{key}"})
        stub.add_response("head_bucket", {}, {"Bucket": "recordings"})
        assert store.exists(key)
        assert not store.exists(key)
        store.delete(key)
        store.check()
        stub.assert_no_pending_responses()


@pytest.fixture
def s3_settings(tmp_path: Path, settings: Settings) -> Iterator[Settings]:
    """The test service's settings on an S3 bucket served in-process by moto."""
    moto = pytest.importorskip("moto", reason="needs moto (the dev extra)")
    boto3 = pytest.importorskip("boto3", reason="the s3 extra is not installed")
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="recordings")
        yield settings.model_copy(
            update={
                "storage_backend": "s3",
                "s3_bucket": "recordings",
                "s3_region": "us-east-1",
                "s3_access_key_id": "test",
                "s3_secret_access_key": SecretStr("test"),
                "home": tmp_path / "home",
                "cache_dir": tmp_path / "cache",
            }
        )


def test_s3_store_round_trip(s3_settings: Settings) -> None:
    store = S3Store(s3_settings)
    key = recording_key(uuid.uuid4())
    staged = store.staging_dir() / "upload"
    staged.write_bytes(b"video bytes")
    store.put(key, staged)
    assert not staged.exists() and store.exists(key)
    with store.open_local(key) as path:
        assert path.read_bytes() == b"video bytes"
        assert str(path).startswith(str(s3_settings.worker_cache_dir))
    with store.open_local(key) as again:
        assert again == path, "one download per machine"
    store.delete(key)
    assert not store.exists(key) and not path.exists()
    store.check()


def test_a_job_runs_with_recordings_in_s3(s3_settings: Settings, short_clip: Path, database_url: str) -> None:
    """API and in-process worker against one bucket: upload, analyse from the cached download,
    delete the object when the job ends."""
    store = S3Store(s3_settings)
    queue = EmbeddedQueue(s3_settings, store)
    app = create_app(s3_settings, queue=queue, store=store)
    key = new_key(s3_settings)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        with short_clip.open("rb") as handle:
            response = client.post("/v1/jobs", files={"file": ("a.mp4", handle, "video/mp4")})
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"], timeout_s=120)
        assert job["status"] == "succeeded", job
        assert client.get(f"/v1/jobs/{job['id']}/summary").status_code == 200
        assert client.get("/readyz").json() == {"status": "ready"}
        deadline = time.monotonic() + 10
        while store.exists(recording_key(uuid.UUID(job["id"]))):  # deleted right after the job ends
            assert time.monotonic() < deadline, "the recording outlived its job"
            time.sleep(0.05)
