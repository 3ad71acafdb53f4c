"""The job service under load: status polls at a fixed rate while jobs run, and concurrent 1 GiB
uploads against the API process's memory, in one run.

    python bench/load.py [--rate 200] [--seconds 30] [--job-minutes 15] [--fps 2] [--worker-cores 0]
                         [--uploads 5] [--upload-mib 1024] [--skip-polls] [--skip-uploads] [--json out.json]

The stack is the one an operator runs (``bench/stack.py``): a fresh Postgres database, a Redis DB
of its own, `emotrace serve` as a subprocess and 2 `celery -A worker.app worker` processes, all on
this machine. The per-client POST rate limit is lifted (``EMOTRACE_POST_RATE_PER_MINUTE``,
``EMOTRACE_POST_BURST``) and the upload budget raised above the upload size: neither is measured.

- Poll load: two looped 720p recordings (``--job-minutes`` each, ``bench/inputs.py``, analysed at
  ``--fps``) are POSTed; while their chunks run, ``GET /v1/jobs/{id}`` (the two ids in turn: key
  lookup and job read in Postgres) and ``GET /healthz`` (no I/O, the baseline) are sent open-loop
  at ``--rate`` per second, ``--seconds`` each: request i leaves at t0 + i/rate whether or not
  earlier ones were answered, so a slow API shows as latency and errors, not as a lower request
  rate (a closed-loop client waits, and hides it). The two targets take turns every second rather
  than one run after the other: the jobs finish within a minute on this machine, and the baseline
  must see the same background as the figure it is the baseline for.
  One asyncio loop with one ``httpx.AsyncClient`` keeps the schedule: a single thread, no thread
  per in-flight request competing for the GIL, and a pool large enough that a request does not
  wait for a connection. Latency runs from the actual send, errors included (a timeout counts as
  its elapsed time). How late each send left against its schedule is recorded too, because the
  client shares the cores with the API and the workers: large send delays mean the client fell
  behind (past the API's capacity httpx's pool bookkeeping grows with the requests in flight),
  and the client's CPU per request is printed beside the API's. Afterwards: how long until the
  API answers ``/healthz`` quickly again (requests the client gave up on may still be queued in
  it), for how many of each target's seconds the jobs were still running, and both jobs must
  reach ``succeeded``.
- Upload load: a short shared clip remuxed with its ``moov`` box first, then one top-level MP4
  ``free`` box padding the file to ``--upload-mib`` MiB (a sparse hole: reading it costs the client
  no disk I/O), so the file is a valid recording the API probes and accepts. ``--uploads`` POSTs of
  it run at once, each streamed from disk by httpx (64 KiB reads), while the RSS of the API
  process (and any children) is sampled every 50 ms; its ``VmHWM`` is reset first where the kernel
  allows, so it is the upload phase's peak. The jobs are deleted afterwards.

On a shared machine the figures move with other load; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import SHARED_VIDEOS, faststart_copy, looped_720p
from bench.stack import Stack, percentile, running_stack

WORKERS = 2
P99_TARGET_MS = 100.0
RSS_TARGET_MB = 300.0
UPLOAD_CLIP = "pyfeat_single_face.mp4"  # 2.4 s: the upload jobs themselves cost the workers little
REQUEST_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 1000
RSS_INTERVAL_S = 0.05
JOB_TIMEOUT_S = 600.0
SLICE_S = 1.0
RECOVERED_MS = 100.0
RECOVERY_LIMIT_S = 120.0
FINISHED = ("succeeded", "failed", "cancelled")
MIB = 1024 * 1024


@dataclass
class RateRun:
    """One target's requests, and the API's and this client's CPU spent during its slices."""

    path: str
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    late_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sends: list[float] = field(default_factory=list)  # wall clock
    span_s: float = 0.0  # this target's share of the time all sends took
    api_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def figures(self, jobs_until: float) -> dict[str, Any]:
        """``jobs_until``: wall time the polled jobs finished (or now, if they had not)."""
        sent = len(self.sends)
        ms = self.latencies_ms
        return {
            "path": self.path,
            "target_rate": self.rate,
            "sent": sent,
            "achieved_rate": round(sent / self.span_s, 1),
            **{f"p{q}_ms": round(percentile(ms, q), 2) for q in (50, 95, 99)},
            "max_ms": round(max(ms), 2),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "send_late_p99_ms": round(percentile(self.late_ms, 99), 2),
            "send_late_max_ms": round(max(self.late_ms), 2),
            "api_cpu_ms_per_request": round(self.api_cpu_s * 1000 / sent, 2),
            "client_cpu_ms_per_request": round(self.client_cpu_s * 1000 / sent, 2),
            "jobs_running_s": round(sum(t < jobs_until for t in self.sends) / self.rate, 1),
        }


async def open_loop(
    base_url: str, key: str, api_pid: int, targets: list[list[str]], rate: float, seconds: float
) -> list[RateRun]:
    """``rate`` GETs per second for ``seconds`` per target, the targets taking turns by the
    second; a target of several paths cycles through them."""
    runs = [RateRun(paths[0] if len(paths) == 1 else "/v1/jobs/{id}", rate) for paths in targets]
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:
        await client.get("/healthz")  # connect and warm up outside the measurement

        async def one(run: RateRun, path: str, scheduled: float) -> None:
            sent = time.perf_counter()
            run.sends.append(time.time())
            run.late_ms.append((sent - scheduled) * 1000)
            try:
                response = await client.get(path)
                if response.status_code != 200:
                    run.errors[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                run.errors[type(exc).__name__] += 1
            run.latencies_ms.append((time.perf_counter() - sent) * 1000)

        per_slice = round(rate * SLICE_S)
        tasks = []
        t0 = time.perf_counter() + 0.05
        cpu = (cpu_s(api_pid), cpu_s())
        for i in range(round(rate * seconds) * len(targets)):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            await asyncio.sleep(max(delay, 0))  # 0: behind schedule, still let the sends start
            index = i // per_slice % len(targets)
            if i and i % per_slice == 0:  # the slice before this one ended: charge its CPU
                now = (cpu_s(api_pid), cpu_s())
                previous = runs[(index - 1) % len(targets)]
                previous.api_cpu_s += now[0] - cpu[0]
                previous.client_cpu_s += now[1] - cpu[1]
                cpu = now
            paths = targets[index]
            tasks.append(asyncio.create_task(one(runs[index], paths[i // len(targets) % len(paths)], scheduled)))
        await asyncio.gather(*tasks)
        sends = [t for run in runs for t in run.sends]
        for run in runs:
            run.span_s = (max(sends) - min(sends) + 1 / rate) / len(runs)
        runs[-1].api_cpu_s += cpu_s(api_pid) - cpu[0]
        runs[-1].client_cpu_s += cpu_s() - cpu[1]
    return runs


def recovery_s(base_url: str) -> float | None:
    """Seconds until ``/healthz`` answers within ``RECOVERED_MS`` again; None if not in ``RECOVERY_LIMIT_S``.

    Requests the client gave up on may still be queued in the API; the next run must not start
    behind them, and how long they take to clear is a figure of its own."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_LIMIT_S:
        sent = time.perf_counter()
        try:
            answered = httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200
            if answered and (time.perf_counter() - sent) * 1000 < RECOVERED_MS:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return None


def fetch_jobs(client: httpx.Client, job_ids: list[str]) -> list[dict[str, Any]]:
    jobs = []
    for job_id in job_ids:
        try:
            jobs.append(client.get(f"/v1/jobs/{job_id}", timeout=10).raise_for_status().json())
        except httpx.HTTPError as exc:
            jobs.append({"status": f"unreachable ({type(exc).__name__})", "finished_at": None})
    return jobs


def wait_for(client: httpx.Client, job_ids: list[str], done: tuple[str, ...], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = fetch_jobs(client, job_ids)
        if all(job["status"] in done for job in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def poll_load(
    stack: Stack, client: httpx.Client, video: Path, *, fps: float, rate: float, seconds: float
) -> dict[str, Any]:
    assert stack.api is not None
    job_ids = []
    started = time.monotonic()
    for _ in range(2):
        with video.open("rb") as handle:
            response = client.post(
                "/v1/jobs", files={"file": (video.name, handle, "video/mp4")}, data={"fps": str(fps)}
            )
        job_ids.append(response.raise_for_status().json()["id"])
    wait_for(client, job_ids[:1], ("running", *FINISHED), 120)  # the load starts with the work
    targets = [[f"/v1/jobs/{job_id}" for job_id in job_ids], ["/healthz"]]
    status_run, health_run = asyncio.run(open_loop(stack.base_url, stack.key, stack.api.pid, targets, rate, seconds))
    recovered = recovery_s(stack.base_url)
    final = wait_for(client, job_ids, FINISHED, JOB_TIMEOUT_S if recovered is not None else 0)
    ends = [job["finished_at"] for job in final]
    jobs_until = max(datetime.fromisoformat(end).timestamp() for end in ends) if all(ends) else time.time()
    status, health = status_run.figures(jobs_until), health_run.figures(jobs_until)
    return {
        "recovered_s": None if recovered is None else round(recovered, 1),
        "status": status,
        "healthz": health,
        "p99_ratio": round(status["p99_ms"] / health["p99_ms"], 2),
        "job_ids": job_ids,
        "jobs_final": [job["status"] for job in final],
        "jobs_wall_s": round(time.monotonic() - started, 1),
    }


def padded_recording(source: Path, target: Path, total_bytes: int) -> Path:
    """``source``'s video remuxed with ``moov`` first, then one top-level ``free`` box up to
    ``total_bytes``: demuxers skip it, so the file stays a valid recording of the clip."""
    faststart_copy(source, target)
    size = target.stat().st_size
    padding = total_bytes - size
    if padding < 16:
        raise SystemExit(f"--upload-mib is smaller than the clip ({size} bytes)")
    # A box size is 32 bits; beyond that, size 1 and a 64-bit largesize after the type.
    header = struct.pack(">I4s", padding, b"free") if padding < 2**32 else struct.pack(">I4sQ", 1, b"free", padding)
    with target.open("r+b") as handle:
        handle.seek(size)
        handle.write(header)
        handle.truncate(total_bytes)
    return target


def proc_kb(pid: int, name: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_s(pid: int | None = None) -> float:
    """User and system CPU seconds of ``pid`` (default: this process, without its children)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


@contextmanager
def rss_sampler(pid: int, *, tree: bool) -> Iterator[dict[str, int]]:
    """Peak VmRSS (kB) of ``pid``, summed with its descendants' if ``tree``, sampled on a thread."""
    peak = {"kb": 0, "samples": 0, "processes": 1}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = process_tree(pid) if tree else [pid]
            peak["kb"] = max(peak["kb"], sum(proc_kb(p, "VmRSS") for p in pids))
            peak["processes"] = max(peak["processes"], len(pids))
            peak["samples"] += 1
            stop.wait(RSS_INTERVAL_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def post_file(base_url: str, key: str, path: Path) -> tuple[str, str | None]:
    """(status or exception name, job id): the body streamed from the open file, 64 KiB at a time."""
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=600) as client, path.open("rb") as handle:
            response = client.post("/v1/jobs", files={"file": (path.name, handle, "video/mp4")})
    except httpx.HTTPError as exc:
        return type(exc).__name__, None
    return str(response.status_code), response.json()["id"] if response.status_code == 202 else None


def upload_load(stack: Stack, client: httpx.Client, uploads: int, upload_mib: int) -> dict[str, Any]:
    from ml.video import probe

    assert stack.api is not None
    big = padded_recording(SHARED_VIDEOS / UPLOAD_CLIP, stack.home / "upload.mp4", upload_mib * MIB)
    try:
        info = probe(big)
        pid = stack.api.pid
        before_kb = proc_kb(pid, "VmRSS")
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            hwm_since = "the uploads began"
        except OSError:
            hwm_since = "the API started"
        results: list[tuple[str, str | None]] = [("not sent", None)] * uploads

        def send(index: int) -> None:
            results[index] = post_file(stack.base_url, stack.key, big)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(uploads)]
        started = time.perf_counter()
        with rss_sampler(pid, tree=True) as api_peak, rss_sampler(os.getpid(), tree=False) as client_peak:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        wall_s = time.perf_counter() - started
        hwm_kb = proc_kb(pid, "VmHWM")
    finally:
        big.unlink(missing_ok=True)
    deletes = [str(client.delete(f"/v1/jobs/{job_id}").status_code) for _, job_id in results if job_id]
    left = [p for p in (stack.home / "storage").rglob("*") if p.is_file()]
    return {
        "upload_mib": upload_mib,
        "uploads": uploads,
        "probe": f"{info.codec} {info.width}x{info.height} {info.duration_s:g} s",
        "statuses": [status for status, _ in results],
        "wall_s": round(wall_s, 2),
        "mib_per_s": round(uploads * upload_mib / wall_s, 1),
        "api_rss_before_mb": round(before_kb / 1024, 1),
        "api_rss_peak_mb": round(api_peak["kb"] / 1024, 1),
        "api_vmhwm_mb": round(hwm_kb / 1024, 1),
        "api_vmhwm_since": hwm_since,
        "api_processes": api_peak["processes"],
        "rss_samples": api_peak["samples"],
        "client_rss_peak_mb": round(client_peak["kb"] / 1024, 1),
        "deletes": deletes,
        "storage_files_left": len(left),
    }


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report_polls(figures: dict[str, Any], rate: float, seconds: float, worker_cores: set[int] | None) -> None:
    placement = f"on core(s) {sorted(worker_cores)} only" if worker_cores else "sharing every core with the API"
    print(
        f"open loop, {rate:g} GET/s for {seconds:g} s per target, targets alternating every {SLICE_S:g} s "
        f"(asyncio, one httpx.AsyncClient), {WORKERS} workers {placement}:"
    )
    for name in ("status", "healthz"):
        run = figures[name]
        print(
            f"  {run['path']:<14} {run['sent']} sent at {run['achieved_rate']:.1f}/s | p50 {run['p50_ms']:.1f} ms, "
            f"p95 {run['p95_ms']:.1f}, p99 {run['p99_ms']:.1f}, max {run['max_ms']:.1f} | errors {run['errors']}"
            f"{' ' + str(run['error_kinds']) if run['errors'] else ''} | sends late p99 {run['send_late_p99_ms']:.1f} "
            f"ms, max {run['send_late_max_ms']:.1f} | CPU per request: API {run['api_cpu_ms_per_request']:.2f} ms, "
            f"client {run['client_cpu_ms_per_request']:.2f} ms | jobs running for {run['jobs_running_s']:.0f} "
            f"of {seconds:g} s"
        )
    status = figures["status"]
    recovered = "not within" if figures["recovered_s"] is None else f"{figures['recovered_s']:.0f} s of"
    print(
        f"  p99 status/healthz {figures['p99_ratio']:.2f} | target p99 < {P99_TARGET_MS:g} ms: "
        f"{verdict(status['p99_ms'] < P99_TARGET_MS)} | target 0 errors: {verdict(status['errors'] == 0)} | "
        f"/healthz under {RECOVERED_MS:g} ms again after {recovered} {RECOVERY_LIMIT_S:g} s"
    )
    print(f"  jobs afterwards: {', '.join(figures['jobs_final'])} ({figures['jobs_wall_s']:.0f} s after the POSTs)")


def report_uploads(figures: dict[str, Any]) -> None:
    statuses = Counter(figures["statuses"])
    print(
        f"uploads: {figures['uploads']} x {figures['upload_mib']} MiB at once ({figures['probe']} + free box), "
        f"streamed from disk: {', '.join(f'{n} x {s}' for s, n in statuses.items())} | "
        f"{figures['wall_s']:.1f} s, {figures['mib_per_s']:.0f} MiB/s"
    )
    print(
        f"  API RSS before {figures['api_rss_before_mb']:.0f} MB, peak {figures['api_rss_peak_mb']:.0f} MB "
        f"({figures['rss_samples']} samples, {figures['api_processes']} process(es)), VmHWM "
        f"{figures['api_vmhwm_mb']:.0f} MB (since {figures['api_vmhwm_since']}) | target peak < "
        f"{RSS_TARGET_MB:g} MB: {verdict(max(figures['api_rss_peak_mb'], figures['api_vmhwm_mb']) < RSS_TARGET_MB)}"
        f" | client RSS peak {figures['client_rss_peak_mb']:.0f} MB"
    )
    print(
        f"  deleted: {', '.join(figures['deletes']) or 'none'} | files left in storage: {figures['storage_files_left']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="GET requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of load per target")
    parser.add_argument(
        "--job-minutes", type=float, default=15.0, help="minutes of each polled recording: outlasts the polls"
    )
    parser.add_argument(
        "--worker-cores",
        type=int,
        default=0,
        help="pin the workers to the last N cores, the rest left to the API and the client (0: all share every core)",
    )
    parser.add_argument("--fps", type=float, default=2.0, help="frames analysed per second of the polled jobs")
    parser.add_argument("--uploads", type=int, default=5, help="concurrent uploads")
    parser.add_argument("--upload-mib", type=int, default=1024, help="size of each upload")
    parser.add_argument("--skip-polls", action="store_true")
    parser.add_argument("--skip-uploads", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # tear the stack down on `timeout` or kill too
    video = None if args.skip_polls else looped_720p(args.workdir, args.job_minutes)
    settings = {
        "EMOTRACE_POST_RATE_PER_MINUTE": "100000",
        "EMOTRACE_POST_BURST": "1000",
        "EMOTRACE_MAX_UPLOAD_BYTES": str(max(2 * 1024 * MIB, (args.upload_mib + 64) * MIB)),
    }
    cores = os.cpu_count() or 1
    worker_cores = set(range(cores - args.worker_cores, cores)) if 0 < args.worker_cores < cores else None
    figures: dict[str, Any] = {
        "cpu_cores": cores,
        "workers": WORKERS,
        "worker_cores": sorted(worker_cores) if worker_cores else "all",
        "load_avg_start": os.getloadavg(),
    }
    with running_stack(settings) as stack:
        stack.workers.start(WORKERS, pin=False, cores=worker_cores)
        headers = {"Authorization": f"Bearer {stack.key}"}
        with httpx.Client(base_url=stack.base_url, headers=headers, timeout=120) as client:
            if video is not None:
                figures["polls"] = poll_load(stack, client, video, fps=args.fps, rate=args.rate, seconds=args.seconds)
                figures["load_avg_after_polls"] = os.getloadavg()
                report_polls(figures["polls"], args.rate, args.seconds, worker_cores)
                for job_id in figures["polls"]["job_ids"]:
                    with contextlib.suppress(httpx.HTTPError):  # an API still stuck is reported above
                        client.delete(f"/v1/jobs/{job_id}", timeout=10)
            if not args.skip_uploads:
                figures["uploads"] = upload_load(stack, client, args.uploads, args.upload_mib)
                figures["load_avg_after_uploads"] = os.getloadavg()
                report_uploads(figures["uploads"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPU cores | load average (1, 5, 15 min) at the end: {load}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
