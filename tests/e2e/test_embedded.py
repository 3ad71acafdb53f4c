"""`emotrace serve` with no Postgres, Redis or Docker: the newcomer's first try, as a subprocess."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emotrace.cli.app import sign_in_url
from emotrace.devstack import run_cli, serving
from tests.api.test_api import upload
from tests.services import wait_for_job


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTRACE_")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env["EMOTRACE_HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def embedded_server(embedded_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serving(embedded_env, tmp_path / "serve.log") as url:
        yield url


def test_serve_runs_a_job_with_no_services(
    embedded_env: dict[str, str], embedded_server: str, short_clip: Path
) -> None:
    created = run_cli("keys", "create", "first-try", env=embedded_env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=embedded_server, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        job_id = upload(client, short_clip).json()["id"]
        job = wait_for_job(client, job_id)
        assert job["status"] == "succeeded", job
        summary = client.get(f"/v1/jobs/{job_id}/summary").json()
        assert summary["summary"]["frames"] == len(client.get(f"/v1/jobs/{job_id}/frames").json()["items"]) > 0
        assert "emotrace_queue_depth" in client.get("/metrics").text
    assert (Path(embedded_env["EMOTRACE_HOME"]) / "emotrace.db").is_file()


def test_sign_in_links_name_a_reachable_host() -> None:
    assert sign_in_url("0.0.0.0", 8000, "et_k") == "http://127.0.0.1:8000/#key=et_k"
    assert sign_in_url("::", 80, "et_k") == "http://[::1]:80/#key=et_k"
    assert sign_in_url("fe80::1", 80, "et_k") == "http://[fe80::1]:80/#key=et_k"
    assert sign_in_url("emotrace.internal", 8000, "et_k") == "http://emotrace.internal:8000/#key=et_k"


SIGN_IN_LINK = re.compile(r"http://127\.0\.0\.1:(\d+)/#key=(et_[A-Za-z0-9_-]+)")


def test_first_start_makes_a_key_and_prints_a_sign_in_link_once(
    embedded_env: dict[str, str], tmp_path: Path, sample_video: Path
) -> None:
    """`emotrace serve` on an empty home: one key, shown once as a sign-in link (the key in the
    fragment), stored as a digest; `emotrace submit` with it returns `emotrace analyze`'s JSON."""
    first_log = tmp_path / "first.log"
    with serving(embedded_env, first_log) as url:
        links = SIGN_IN_LINK.findall(first_log.read_text())
        assert len(links) == 1, first_log.read_text()
        port, key = links[0]
        assert url.endswith(f":{port}")
        assert httpx.get(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert first_log.read_text().count(key) == 2  # the link and the header line, nothing else

        with_key = {**embedded_env, "EMOTRACE_API_KEY": key}
        job_json, job_csv = tmp_path / "job.json", tmp_path / "job.csv"
        submitted = run_cli(
            "submit", str(sample_video), "--url", url, "--json", str(job_json), "--csv", str(job_csv),
            env=with_key, timeout=300,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip().splitlines()[-1]
        assert httpx.get(f"{url}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()["status"] == (
            "succeeded"
        )

        queued = run_cli("submit", str(sample_video), "--url", url, "--external-id", "no-wait", env=with_key)
        assert queued.returncode == 0, queued.stderr
        (queued_id,) = queued.stdout.split()  # without --wait: the job id alone, at once
        queued_job = httpx.get(f"{url}/v1/jobs/{queued_id}", headers={"Authorization": f"Bearer {key}"}).json()
        assert queued_job["external_id"] == "no-wait"

        not_a_video = tmp_path / "notes.mp4"
        not_a_video.write_text("a text file\n" * 100)
        refused = run_cli("submit", str(not_a_video), "--url", url, env=with_key)
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr.strip().splitlines()[-1].startswith("error: not_a_video: ")
        stranger = run_cli("submit", str(sample_video), "--url", url, env={**with_key, "EMOTRACE_API_KEY": "et_wrong"})
        assert stranger.returncode == 2 and "error: unauthorized: " in stranger.stderr

    local_json, local_csv = tmp_path / "local.json", tmp_path / "local.csv"
    analyzed = run_cli(
        "analyze", str(sample_video), "--json", str(local_json), "--csv", str(local_csv), env=embedded_env
    )
    assert analyzed.returncode == 0, analyzed.stderr
    assert json.loads(job_json.read_text()) == json.loads(local_json.read_text())
    assert job_csv.read_text() == local_csv.read_text()

    listed = run_cli("keys", "list", env=embedded_env)
    assert len(listed.stdout.strip().splitlines()) == 1 and " local" in listed.stdout
    database = (Path(embedded_env["EMOTRACE_HOME"]) / "emotrace.db").read_bytes()
    assert key.encode() not in database and key[12:].encode() not in database

    again_log = tmp_path / "again.log"
    with serving(embedded_env, again_log):
        pass
    assert "#key=" not in again_log.read_text()
    assert len(run_cli("keys", "list", env=embedded_env).stdout.strip().splitlines()) == 1
