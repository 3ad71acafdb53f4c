"""The job service end to end: one worker against two on the same recording, and status-poll
latency under concurrent clients, in one run.

    python bench/service.py [--minutes 10] [--chunk-seconds 60] [--clients 16] [--polls 100] [--json out.json]

Starts everything the way an operator would, on this machine: a fresh Postgres database migrated
by `emotrace migrate`, a Redis DB of its own, `emotrace serve` (API against Postgres and Celery) as
a subprocess, and `celery -A worker.app worker` processes (prefork, one child each). The input is
a 720p H.264 recording built by looping a shared clip (``bench/inputs.py``).

- End to end: POST the recording, poll until ``succeeded``; once with 1 worker (the baseline),
  once with 2. Printed: wall seconds each, the speed-up, and the seconds the chunks took. Done
  twice: workers sharing every core (one machine: each worker's pipeline already runs decode,
  detection and classification on threads of its own, so on two cores a second worker has little
  left to use), and each worker pinned to a core of its own (as when workers are added with
  machines: the scaling of the chunked design itself).
- Poll latency: ``--clients`` threads each send ``--polls`` ``GET /v1/jobs/{id}`` (authenticated,
  one Postgres read) against ``/healthz`` (no I/O) as the baseline, same concurrency; p50/p99.

On a shared machine the wall-clock figures move with other load; the ratios are measured within
one run, on the same input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import base_720p, looped_720p
from bench.stack import percentile, running_stack


def run_job(client: httpx.Client, video: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    with video.open("rb") as handle:
        response = client.post("/v1/jobs", files={"file": (video.name, handle, "video/mp4")})
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise SystemExit(f"job failed: {job['error']}")
    return elapsed, job


def chunk_cpu_s(database_url: str, job_id: str) -> tuple[float, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(run_ms), 0), count(DISTINCT worker) FROM chunk WHERE job_id = %s", (job_id,)
        ).fetchone()
    assert row is not None
    return row[0] / 1000, row[1]


def poll_latencies(base_url: str, path: str, key: str, clients: int, polls: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client_loop() -> None:
        mine = []
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            client.get(path)  # connect outside the measurement
            for _ in range(polls):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk-seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--polls", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    base = base_720p(args.workdir)
    video = looped_720p(args.workdir, args.minutes)

    results: dict[tuple[bool, int], tuple[float, float, int]] = {}
    with running_stack({"EMOTRACE_CHUNK_SECONDS": str(args.chunk_seconds)}) as stack:
        headers = {"Authorization": f"Bearer {stack.key}"}
        with httpx.Client(base_url=stack.base_url, headers=headers, timeout=120) as client:
            for pin in (False, True):
                for count in (1, 2):
                    stack.workers.start(count, pin=pin)
                    run_job(client, base)  # warm-up: page cache, model load in every worker child
                    elapsed, job = run_job(client, video)
                    cpu_s, distinct = chunk_cpu_s(stack.database_url, job["id"])
                    results[pin, count] = (elapsed, cpu_s, distinct)
                    stack.workers.stop()
            job_path = f"/v1/jobs/{job['id']}"

        health = poll_latencies(stack.base_url, "/healthz", stack.key, args.clients, args.polls)
        polls = poll_latencies(stack.base_url, job_path, stack.key, args.clients, args.polls)

    video_s = job["video"]["duration_s"]
    speedups = {pin: results[pin, 1][0] / results[pin, 2][0] for pin in (False, True)}
    p50, p99 = percentile(polls, 50), percentile(polls, 99)
    h50, h99 = percentile(health, 50), percentile(health, 99)
    print(
        f"{video_s / 60:.1f}-min 720p recording, {job['chunks_total']} chunks of {args.chunk_seconds} s, "
        f"{os.cpu_count()} CPU cores"
    )
    for pin, label in ((False, "workers share all cores"), (True, "one core per worker")):
        (one_s, one_cpu, _), (two_s, two_cpu, two_workers) = results[pin, 1], results[pin, 2]
        print(
            f"{label}: 1 worker {one_s:.1f} s ({video_s / one_s:.1f}x real time, chunks {one_cpu:.0f} s) | "
            f"2 workers {two_s:.1f} s ({video_s / two_s:.1f}x real time, chunks {two_cpu:.0f} s, "
            f"{two_workers} processes) | speed-up {speedups[pin]:.2f}x"
        )
    print(
        f"status poll, {args.clients} concurrent clients x {args.polls}: p50 {p50:.1f} ms, p99 {p99:.1f} ms | "
        f"/healthz baseline p50 {h50:.1f} ms, p99 {h99:.1f} ms | ratio p50 {p50 / h50:.2f}, p99 {p99 / h99:.2f} "
        f"| {len(polls) / (sum(polls) / 1000 / args.clients):.0f} polls/s"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "video_s": video_s,
                    "chunks": job["chunks_total"],
                    "chunk_seconds": args.chunk_seconds,
                    **{
                        f"{'pinned' if pin else 'shared'}_{count}_workers_s": round(results[pin, count][0], 2)
                        for pin in (False, True)
                        for count in (1, 2)
                    },
                    "speedup_shared_cores": round(speedups[False], 3),
                    "speedup_one_core_per_worker": round(speedups[True], 3),
                    "poll_p50_ms": round(p50, 2),
                    "poll_p99_ms": round(p99, 2),
                    "healthz_p50_ms": round(h50, 2),
                    "healthz_p99_ms": round(h99, 2),
                    "clients": args.clients,
                    "polls_per_client": args.polls,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
