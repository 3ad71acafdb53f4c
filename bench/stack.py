"""The job service started the way an operator would, for the service benchmarks: a fresh
Postgres database migrated by `emotrace migrate`, a Redis DB of its own, an API key from
`emotrace keys create`, `emotrace serve` as a subprocess and `celery -A worker.app worker`
processes. Everything is torn down afterwards, even on failure: processes stopped, database
dropped, Redis DB flushed, recordings removed (the logs stay under EMOTRACE_HOME).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("EMOTRACE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("EMOTRACE_BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
START_TIMEOUT_S = 120.0
WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "worker.app",
    "worker",
    "--pool=prefork",
    "--concurrency=1",
    "--queues=emotrace.control,emotrace.chunks",
    "--loglevel=WARNING",
    "--without-gossip",
    "--without-mingle",
]
EMOTRACE_CLI = [sys.executable, "-m", "emotrace.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pick_redis_db() -> str:
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis.from_url(f"{REDIS_BASE_URL}/{number}")
        try:
            if client.dbsize() == 0 and client.set("emotrace-bench-claim", "1", nx=True):
                return f"{REDIS_BASE_URL}/{number}"
        finally:
            client.close()
    raise SystemExit("no empty Redis database number is free")


def run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{result.stderr}")
    return result.stdout


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Workers:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *, pin: bool, cores: set[int] | None = None) -> None:
        """``pin``: worker i runs on core i only, as if each worker had a machine of one core.
        ``cores``: every worker runs on these cores only (the rest are left to the API)."""
        from celery import Celery

        names = [f"bench{len(self.processes) + i}" for i in range(count)]
        for index, name in enumerate(names):
            log = (self.log_dir / f"{name}.log").open("ab")
            allowed = {index % (os.cpu_count() or 1)} if pin else cores
            self.processes.append(
                subprocess.Popen(
                    [*WORKER_COMMAND, "-n", f"{name}@%h"],
                    env=self.env,
                    cwd=REPO,
                    stdout=log,
                    stderr=log,
                    preexec_fn=(lambda allowed=allowed: os.sched_setaffinity(0, allowed)) if allowed else None,
                )
            )
        control = Celery(broker=self.env["REDIS_URL"])
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                replies = control.control.ping(timeout=1.0) or []
                if {node.split("@")[0] for reply in replies for node in reply} >= set(names):
                    return
                if time.monotonic() > deadline:
                    raise SystemExit(f"workers did not start; see {self.log_dir}")
        finally:
            control.close()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@dataclass
class Stack:
    env: dict[str, str]
    home: Path
    database_url: str
    redis_url: str
    workers: Workers
    base_url: str = ""
    key: str = ""
    api: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def _serve(stack: Stack) -> None:
    port = free_port()
    api_log = (stack.home / "api.log").open("ab")
    stack.api = subprocess.Popen(
        [*EMOTRACE_CLI, "serve", "--port", str(port)], env=stack.env, cwd=REPO, stdout=api_log, stderr=api_log
    )
    stack.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{stack.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or stack.api.poll() is not None:
            raise SystemExit(f"emotrace serve did not start; see {stack.home / 'api.log'}")
        time.sleep(0.2)


def _teardown(stack: Stack, db_name: str) -> None:
    stack.workers.stop()
    if stack.api is not None:
        stack.api.terminate()
        try:
            stack.api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.api.kill()
            stack.api.wait()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    client = redis.Redis.from_url(stack.redis_url)
    client.flushdb()
    client.close()
    for entry in stack.home.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.suffix != ".log":
            entry.unlink(missing_ok=True)


@contextmanager
def running_stack(settings: Mapping[str, str]) -> Iterator[Stack]:
    """The API serving against Postgres and Celery, ready, with a key; no workers yet.

    ``settings``: extra environment (``EMOTRACE_*``) for the API and the workers alike.
    """
    db_name = f"emotrace_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name
    try:
        redis_url = pick_redis_db()
    except BaseException:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        raise
    home = Path(tempfile.mkdtemp(prefix="emotrace-bench-home-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMOTRACE_HOME": str(home),
        "EMOTRACE_LOG_LEVEL": "WARNING",
        **settings,
    }
    stack = Stack(env, home, database_url, redis_url, Workers(env, home))
    try:
        run([*EMOTRACE_CLI, "migrate"], env)
        stack.key = run([*EMOTRACE_CLI, "keys", "create", "bench"], env).strip().splitlines()[-1]
        _serve(stack)
        yield stack
    finally:
        _teardown(stack, db_name)
