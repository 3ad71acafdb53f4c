"""``emotrace submit``: send a recording to a running emotrace service with :mod:`emotrace.client`.

The job id goes to stdout (its own last line, for scripts); upload and analysis progress go to
stderr. ``--json`` writes what ``emotrace analyze --json`` writes for the same recording (the
service's summary with its frames put back), ``--csv`` the frames as CSV; either implies
``--wait``. Errors end in one line ``error: <code>: <message>``: exit 2 when the service refused
the request (bad file, bad key, bad parameter), 1 when the job failed or the service could not be
reached.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from emotrace.cli.exits import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from emotrace.client import ApiError, Client, Job, JobFailed

if TYPE_CHECKING:
    from ml.schema import Analysis


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def full_analysis(api: Client, job_id: str) -> Analysis:
    """The service's summary with every frame put back: what ``emotrace analyze`` computes."""
    from ml.schema import Analysis

    return Analysis.model_validate({**api.summary(job_id), "frames": list(api.iter_frames(job_id))})


def _write_outputs(api: Client, job: Job, json_out: Path | None, csv_out: Path | None) -> None:
    if json_out is not None:
        json_out.write_text(full_analysis(api, job.id).model_dump_json(indent=1) + "\n")
    if csv_out is not None:
        api.frames_csv(job.id, csv_out)


def _wait(api: Client, job: Job, console: Console) -> Job:
    with _progress(console) as bar:
        task: TaskID = bar.add_task("analysing", total=max(job.chunks_total, 1))

        def show(current: Job) -> None:
            bar.update(task, total=max(current.chunks_total, 1), completed=current.chunks_done)

        return api.wait(job.id, on_progress=show)


def run_submit(
    video: Path,
    *,
    url: str,
    key: str,
    fps: float | None = None,
    transcript: Path | None = None,
    external_id: str | None = None,
    retain_video: bool = False,
    idempotency_key: str | None = None,
    wait: bool = False,
    json_out: Path | None = None,
    csv_out: Path | None = None,
) -> int:
    console = Console(stderr=True, highlight=False)
    for path in (video, transcript):
        if path is not None and not path.is_file():
            print(f"error: file_not_found: {path}: no such file", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        with Client(url, key) as api:
            with _progress(console) as bar:
                task = bar.add_task("uploading", total=video.stat().st_size)
                job = api.submit(
                    video,
                    fps=fps,
                    transcript=transcript,
                    external_id=external_id,
                    retain_video=retain_video,
                    idempotency_key=idempotency_key,
                    on_progress=lambda sent, total: bar.update(task, completed=sent, total=total),
                )
            console.print(f"job {job.id} {job.status}: {job.chunks_total} parts to analyse")
            if not (wait or json_out or csv_out):
                print(job.id)
                return EXIT_OK
            job = _wait(api, job, console)
            _write_outputs(api, job, json_out, csv_out)
    except ApiError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.status < 500 and exc.status != 429 else EXIT_FAILURE
    except JobFailed as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        print(exc.job.id)
        return EXIT_FAILURE
    except httpx.TransportError as exc:
        print(f"error: service_unreachable: {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    console.print(f"job {job.id} {job.status}")
    print(job.id)
    return EXIT_OK
