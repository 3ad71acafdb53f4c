"""The job service started the way an operator would, for the service benchmarks: a fresh
Postgres database migrated by `emotrace migrate`, a Redis DB of its own, an API key from
`emotrace keys create`, `emotrace serve` as a subprocess and `celery -A worker.app worker`
processes, each started by ``emotrace/devstack.py`` as the tests start them. Everything is torn
down afterwards, even on failure: processes stopped, database dropped, Redis DB flushed,
recordings removed (the logs stay under EMOTRACE_HOME).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from emotrace import devstack

PG_ADMIN_URL = os.environ.get("EMOTRACE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("EMOTRACE_BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def cli(*args: str, env: Mapping[str, str]) -> str:
    """``emotrace ARGS``'s stdout; a failure ends the benchmark with its stderr."""
    result = devstack.run_cli(*args, env=env, timeout=None)
    if result.returncode != 0:
        raise devstack.StackError(f"emotrace {' '.join(args[:2])} failed:\n{result.stderr}")
    return result.stdout


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Workers:
    """The stack's Celery workers, started and stopped together between measurements."""

    processes: devstack.Processes
    names: list[str] = field(default_factory=list)

    def start(self, count: int, *, pin: bool, cores: set[int] | None = None) -> None:
        """``pin``: worker i runs on core i only, as if each worker had a machine of one core.
        ``cores``: every worker runs on these cores only (the rest are left to the API)."""
        names = [f"bench{len(self.names) + i}" for i in range(count)]
        cpus = {name: {index % (os.cpu_count() or 1)} if pin else cores for index, name in enumerate(names)}
        self.names += names
        devstack.start_workers(
            self.processes,
            names,
            loglevel="WARNING",
            cpus={name: allowed for name, allowed in cpus.items() if allowed},
            timeout_s=START_TIMEOUT_S,
        )

    def stop(self) -> None:
        self.processes.stop(*self.names)
        self.names.clear()


@dataclass
class Stack:
    env: dict[str, str]
    home: Path
    database_url: str
    redis_url: str
    processes: devstack.Processes
    workers: Workers
    base_url: str = ""
    key: str = ""

    @property
    def api(self) -> subprocess.Popen[bytes] | None:
        """The `emotrace serve` process, once started (its pid is what the load bench samples)."""
        return self.processes.processes.get("api")


def _clear_home(home: Path) -> None:
    """Remove recordings and the database of the embedded parts; keep the logs."""
    for entry in home.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.suffix != ".log":
            entry.unlink(missing_ok=True)


@contextmanager
def running_stack(settings: Mapping[str, str]) -> Iterator[Stack]:
    """The API serving against Postgres and Celery, ready, with a key; no workers yet.

    ``settings``: extra environment (``EMOTRACE_*``) for the API and the workers alike. A part
    that does not start ends the benchmark (SystemExit) after the teardown.
    """
    try:
        with ExitStack() as teardown:
            db_name = devstack.create_database(PG_ADMIN_URL, "emotrace_bench")
            teardown.callback(devstack.drop_database, PG_ADMIN_URL, db_name)
            database_url = devstack.database_url_for(PG_ADMIN_URL, db_name)
            redis_url = teardown.enter_context(devstack.claimed_redis_db(REDIS_BASE_URL))
            home = Path(tempfile.mkdtemp(prefix="emotrace-bench-home-"))
            teardown.callback(_clear_home, home)
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "EMOTRACE_HOME": str(home),
                "EMOTRACE_LOG_LEVEL": "WARNING",
                **settings,
            }
            processes = devstack.Processes(env, home, stop_timeout_s=STOP_TIMEOUT_S)
            teardown.callback(processes.stop_all)
            stack = Stack(env, home, database_url, redis_url, processes, Workers(processes))
            cli("migrate", env=env)
            stack.key = cli("keys", "create", "bench", env=env).strip().splitlines()[-1]
            stack.base_url = devstack.start_api(processes, ready_path="/readyz", timeout_s=START_TIMEOUT_S)
            yield stack
    except devstack.StackError as error:
        raise SystemExit(str(error)) from error
