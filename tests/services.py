"""Fixtures that start the real service: a fresh Postgres database, a Redis DB of its own, Celery
worker processes, and the API on a uvicorn thread.

Missing Postgres or Redis fails (they are part of the product); missing ``../shared`` clips
skips. Each test makes its own client and key with a random name, so nothing truncates tables
and workers always see committed rows. Importable as a plugin (``pytest_plugins``) by suites
that need the running service, e.g. the web page tests.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from api.app import create_app
from api.server import serve_in_thread
from emotrace import keys
from emotrace.db import dispose_engines, session_scope
from emotrace.queue import QUEUES, CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("EMOTRACE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("EMOTRACE_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
WEBHOOK_SECRET = "test-webhook-" + uuid.uuid4().hex
WORKER_START_TIMEOUT_S = 90.0
CHUNK_SECONDS = 10  # the smallest allowed: several chunks from the short shared clips


def emotrace_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "emotrace.cli", *args]


def celery_worker_command(name: str) -> list[str]:
    """A Celery worker as `docker compose` runs one: prefork, one child, both queues."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "worker",
        "-n",
        f"{name}@%h",
        "--pool=prefork",
        "--concurrency=1",
        f"--queues={','.join(QUEUES)}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_for(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def create_database(prefix: str = "emotrace_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        emotrace_command(*args), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


@contextlib.contextmanager
def serve_process(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``emotrace serve`` as a subprocess on a free port, its stdout and stderr in ``log_path``;
    yields its URL once /healthz answers, and stops it at the end."""
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            emotrace_command("serve", "--port", str(port)), env=env, cwd=REPO, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
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


@pytest.fixture(scope="session")
def service_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emotrace-home")


@pytest.fixture(scope="session")
def database_url(service_home: Path) -> Iterator[str]:
    """A fresh database, migrated by the users' command, dropped at the end."""
    name = create_database()
    url = database_url_for(name)
    try:
        env = {**os.environ, "DATABASE_URL": url, "EMOTRACE_HOME": str(service_home)}
        result = run_cli("migrate", env=env)
        assert result.returncode == 0, result.stderr
        yield url
    finally:
        dispose_engines(close=True)
        drop_database(name)


@contextlib.contextmanager
def claimed_redis_db() -> Iterator[str]:
    """An empty Redis database number of our own, flushed at the end."""
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis.from_url(f"{REDIS_BASE_URL}/{number}")
        if client.dbsize() == 0 and client.set("emotrace-test-claim", "1", nx=True):
            try:
                yield f"{REDIS_BASE_URL}/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.fail("no empty Redis database number is free for the tests")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with claimed_redis_db() as url:
        yield url


@pytest.fixture(scope="session")
def idle_queue_settings(settings: Settings) -> Iterator[Settings]:
    """The test service's settings with a broker no worker listens to: jobs submitted through
    it stay queued, as when every worker is busy or down, until a test acts on them."""
    with claimed_redis_db() as url:
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


@dataclass
class WorkerPool:
    """Celery worker processes (prefork, one child each) started with the test environment."""

    env: dict[str, str]
    redis_url: str
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, *names: str) -> None:
        for name in names:
            # The child writes through its own copy of the descriptor; ours is closed once it has started.
            with (self.log_dir / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    celery_worker_command(name), env=self.env, cwd=REPO, stdout=log, stderr=log
                )
        self.wait_ready(names)

    def wait_ready(self, names: tuple[str, ...]) -> None:
        """Poll ``control.ping()`` until every named worker answers; never a fixed sleep."""
        from celery import Celery

        control = Celery(broker=self.redis_url)
        wanted = {name for name in names}
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        try:
            while wanted:
                for name in list(wanted):
                    if self.processes[name].poll() is not None:
                        raise RuntimeError(f"worker {name} exited: see {self.log_dir / (name + '.log')}")
                replies = control.control.ping(timeout=1.0) or []
                answered = {node.split("@", 1)[0] for reply in replies for node in reply}
                wanted -= answered
                if wanted and time.monotonic() > deadline:
                    raise RuntimeError(f"workers {sorted(wanted)} did not answer ping")
        finally:
            control.close()

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def workers(service_env: dict[str, str], redis_url: str, service_home: Path) -> Iterator[WorkerPool]:
    """Two workers, as in `docker compose up --scale worker=2`."""
    log_dir = service_home / "logs"
    log_dir.mkdir(exist_ok=True)
    pool = WorkerPool(service_env, redis_url, log_dir)
    try:
        pool.start("w1", "w2")
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
