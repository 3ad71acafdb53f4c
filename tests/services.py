"""Fixtures that start the real service: a fresh Postgres database, a Redis DB of its own, Celery
worker processes (all three through ``emotrace/devstack.py``, as the benchmarks start them), and
the API on a uvicorn thread (in this process, so a test can build it with its own settings).

Missing Postgres or Redis fails (they are part of the product); missing ``../shared`` clips
skips. Each test makes its own client and key with a random name, so nothing truncates tables
and workers always see committed rows. Importable as a plugin (``pytest_plugins``) by suites
that need the running service, e.g. the web page tests.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace import keys
from emotrace.db import dispose_engines, session_scope
from emotrace.devstack import (
    Processes,
    claimed_redis_db,
    create_database,
    database_url_for,
    drop_database,
    run_cli,
    start_workers,
)
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore

PG_ADMIN_URL = os.environ.get("EMOTRACE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("EMOTRACE_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
WEBHOOK_SECRET = "test-webhook-" + uuid.uuid4().hex
WORKER_START_TIMEOUT_S = 90.0
CHUNK_SECONDS = 10  # the smallest allowed: several chunks from the short shared clips


@pytest.fixture(scope="session")
def service_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emotrace-home")


@pytest.fixture(scope="session")
def database_url(service_home: Path) -> Iterator[str]:
    """A fresh database, migrated by the users' command, dropped at the end."""
    name = create_database(PG_ADMIN_URL, "emotrace_test")
    url = database_url_for(PG_ADMIN_URL, name)
    try:
        env = {**os.environ, "DATABASE_URL": url, "EMOTRACE_HOME": str(service_home)}
        result = run_cli("migrate", env=env)
        assert result.returncode == 0, result.stderr
        yield url
    finally:
        dispose_engines(close=True)
        drop_database(PG_ADMIN_URL, name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with claimed_redis_db(REDIS_BASE_URL) as url:
        yield url


@pytest.fixture(scope="session")
def idle_queue_settings(settings: Settings) -> Iterator[Settings]:
    """The test service's settings with a broker no worker listens to: jobs submitted through
    it stay queued, as when every worker is busy or down, until a test acts on them."""
    with claimed_redis_db(REDIS_BASE_URL) as url:
        yield settings.model_copy(update={"redis_url": url})


@pytest.fixture(scope="session")
def service_env(service_home: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment every process of the test service gets (API settings mirror it)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMOTRACE_HOME": str(service_home),
        "EMOTRACE_CHUNK_SECONDS": str(CHUNK_SECONDS),
        "EMOTRACE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "EMOTRACE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMOTRACE_WORKER_THREADS": "1",
        "EMOTRACE_LOG_LEVEL": "INFO",
    }


def settings_from_env(env: dict[str, str], **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": Path(env["EMOTRACE_HOME"]),
        "database_url": env["DATABASE_URL"],
        "redis_url": env["REDIS_URL"],
        "chunk_seconds": float(env["EMOTRACE_CHUNK_SECONDS"]),
        "webhook_secret": env["EMOTRACE_WEBHOOK_SECRET"],
        "webhook_allowed_hosts": env["EMOTRACE_WEBHOOK_ALLOWED_HOSTS"],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]) -> Settings:
    return settings_from_env(service_env)


@pytest.fixture(scope="session")
def workers(service_env: dict[str, str], service_home: Path) -> Iterator[Processes]:
    """Two workers, as in `docker compose up --scale worker=2`."""
    log_dir = service_home / "logs"
    log_dir.mkdir(exist_ok=True)
    pool = Processes(service_env, log_dir)
    try:
        start_workers(pool, ("w1", "w2"), timeout_s=WORKER_START_TIMEOUT_S)
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def api_url(settings: Settings) -> Iterator[str]:
    app = create_app(settings, queue=CeleryQueue(settings), store=LocalStore(settings.storage_root))
    with serve_in_thread(app) as url:
        yield url


def new_key(settings: Settings, name: str | None = None) -> str:
    with session_scope(settings) as session:
        _, key = keys.create(session, name or f"client-{uuid.uuid4().hex[:12]}")
    return key


@pytest.fixture
def make_client(api_url: str, settings: Settings) -> Iterator[Callable[..., httpx.Client]]:
    """``make_client()``: an httpx client of a brand-new API client (random name, fresh key)."""
    opened: list[httpx.Client] = []

    def make(key: str | None = None) -> httpx.Client:
        client = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key or new_key(settings)}"}, timeout=60
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def wait_for_job(client: httpx.Client, job_id: str, *, timeout_s: float = 180.0) -> dict[str, Any]:
    """Poll until the job ends; returns its last JSON."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {job['status']} after {timeout_s} s: {job}")
        time.sleep(0.2)


def wait_until_deleted(settings: Settings, job_id: str, timeout_s: float = 10.0) -> None:
    """The recording goes right after the job ends (the end is committed first, then the file):
    wait until nothing under the storage root names the job."""
    deadline = time.monotonic() + timeout_s
    while any(job_id in str(path) for path in settings.storage_root.rglob("*")):
        assert time.monotonic() < deadline, "the recording outlived its job"
        time.sleep(0.05)
