"""`emotrace serve` with no Postgres, Redis or Docker: the newcomer's first try, as a subprocess."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.services import run_cli, serve_process, wait_for_job
from tests.service.test_api import upload


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTRACE_")}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env["EMOTRACE_HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def embedded_server(embedded_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serve_process(embedded_env, tmp_path / "serve.log") as url:
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
