"""`emotrace serve` with no Postgres, Redis or Docker: the newcomer's first try, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.services import REPO, emotrace_command, free_port, run_cli, wait_for_job
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
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        emotrace_command("serve", "--port", str(port)), env=embedded_env, cwd=REPO, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "emotrace serve did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


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
