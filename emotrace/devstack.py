"""The job service's processes started on this machine for the tests and the benchmarks: one
place for how a throwaway Postgres database and Redis DB are claimed, how a Celery worker, beat
and `emotrace serve` are launched, and how each is waited for and stopped.

It lives in the package (as ``celery.contrib.testing`` does) so that ``tests/`` and ``bench/``
share it without one importing the other. The kernel never imports ``api`` or ``worker``
(``tests/test_layers.py``): the API and the workers are started here as subprocesses, by
command, exactly as an operator or `docker compose` starts them.

Everything raises :class:`StackError` when a part does not come up; each caller decides whether
that fails a test or ends a benchmark.
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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

from emotrace.queue import QUEUES

# The folder that holds the packages (the repository in a checkout): every process starts there.
ROOT = Path(__file__).resolve().parents[1]
REDIS_CLAIM_KEY = "emotrace-devstack-claim"


class StackError(RuntimeError):
    """A part of the stack did not start, or a command it needs failed."""


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it), for a server started next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emotrace_command(*args: str) -> list[str]:
    """The `emotrace` CLI run by this interpreter, so the subprocess sees the same environment."""
    return [sys.executable, "-m", "emotrace.cli", *args]


def celery_worker_command(name: str, *, loglevel: str = "INFO") -> list[str]:
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
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]


def celery_beat_command(schedule: Path) -> list[str]:
    """Celery beat, which sends the periodic sweep and purge, its schedule file at ``schedule``."""
    return [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "--schedule", str(schedule), "--loglevel=INFO"]


def run_cli(*args: str, env: Mapping[str, str], timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """``emotrace ARGS`` to completion, its output captured; the caller judges the exit status."""
    return subprocess.run(
        emotrace_command(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def database_url_for(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server that ``admin_url`` points to."""
    return admin_url.rsplit("/", 1)[0] + "/" + name


def create_database(admin_url: str, prefix: str) -> str:
    """A new empty database named ``<prefix>_<random>`` on ``admin_url``'s server; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` even while connections to it are still open (a killed process's)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def claimed_redis_db(base_url: str) -> Iterator[str]:
    """An empty Redis database number of our own on ``base_url``'s server, flushed at the end.

    A number is ours when it is empty and we set the claim key first, so two runs on one server
    (tests beside a benchmark) never share a broker.
    """
    base = base_url.rstrip("/")
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis.from_url(f"{base}/{number}")
        if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, "1", nx=True):
            try:
                yield f"{base}/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise StackError(f"no empty Redis database number is free on {base}")


@dataclass
class Processes:
    """The stack's subprocesses by name, each started in ``env`` and logging (stdout and
    stderr) to ``log_dir/<name>.log``, appended to when a name is started again."""

    env: Mapping[str, str]
    log_dir: Path
    stop_timeout_s: float = 20.0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def start(self, name: str, command: list[str], *, cpus: set[int] | None = None) -> subprocess.Popen[bytes]:
        """Start ``command`` as ``name``; ``cpus``: the only cores it (and its children) may use."""
        with self.log_path(name).open("ab") as log:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash or an OOM kill would end it: no shutdown of its own."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, *names: str) -> None:
        """SIGTERM to the named processes at once, then wait for each, killing one that takes
        longer than ``stop_timeout_s``."""
        stopping = [self.processes.pop(name) for name in names]
        for process in stopping:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in stopping:
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def stop_all(self) -> None:
        self.stop(*self.processes)


def wait_for_workers(processes: Processes, names: Iterable[str], *, timeout_s: float = 90.0) -> None:
    """Poll ``control.ping()`` on the broker in ``REDIS_URL`` until every named worker answers;
    never a fixed sleep. A worker that exits meanwhile fails at once, naming its log."""
    from celery import Celery

    control = Celery(broker=processes.env["REDIS_URL"])
    wanted = set(names)
    deadline = time.monotonic() + timeout_s
    try:
        while wanted:
            for name in wanted:
                if processes.processes[name].poll() is not None:
                    raise StackError(f"worker {name} exited: see {processes.log_path(name)}")
            replies = control.control.ping(timeout=1.0) or []
            wanted -= {node.split("@", 1)[0] for reply in replies for node in reply}
            if wanted and time.monotonic() > deadline:
                raise StackError(f"workers {sorted(wanted)} did not answer ping: see {processes.log_dir}")
    finally:
        control.close()


def start_workers(
    processes: Processes,
    names: Iterable[str],
    *,
    loglevel: str = "INFO",
    cpus: Mapping[str, set[int]] | None = None,
    timeout_s: float = 90.0,
) -> None:
    """Start a Celery worker per name (:func:`celery_worker_command`) and wait until all answer.

    ``cpus``: per worker name, the only cores it may use (absent names use every core)."""
    names = tuple(names)
    for name in names:
        processes.start(name, celery_worker_command(name, loglevel=loglevel), cpus=(cpus or {}).get(name))
    wait_for_workers(processes, names, timeout_s=timeout_s)


def start_beat(processes: Processes, schedule: Path) -> None:
    """Celery beat as ``beat``; nothing to wait for: its first sends come on its schedule."""
    processes.start("beat", celery_beat_command(schedule))


def start_api(
    processes: Processes,
    port: int | None = None,
    *,
    name: str = "api",
    ready_path: str = "/healthz",
    timeout_s: float = 60.0,
) -> str:
    """``emotrace serve`` as ``name`` on ``port`` (a free one when None); its URL once
    ``ready_path`` answers 200. ``/healthz`` answers as soon as the process serves,
    ``/readyz`` only once the database and the broker are reachable too."""
    port = free_port() if port is None else port
    process = processes.start(name, emotrace_command("serve", "--port", str(port)))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise StackError(
                f"emotrace serve did not start ({processes.log_path(name)}):\n{processes.log(name)[-3000:]}"
            )
        time.sleep(0.1)


@contextlib.contextmanager
def serving(env: Mapping[str, str], log_path: Path, *, ready_path: str = "/healthz") -> Iterator[str]:
    """``emotrace serve`` in ``env`` for the duration of the block, logging to ``log_path``
    (``<name>.log``); yields its URL once ``ready_path`` answers (see :func:`start_api`)."""
    if log_path.suffix != ".log":
        raise ValueError(f"the log of a stack process is named <name>.log, not {log_path.name}")
    processes = Processes(env, log_path.parent)
    try:
        yield start_api(processes, name=log_path.stem, ready_path=ready_path)
    finally:
        processes.stop_all()
