"""/v1/jobs: authorize, call ``emotrace.jobs``, shape the response. No CPU work happens here.

The upload route is the one ``async`` route: it reads the body stream itself to enforce the
byte budget; the rest is plain ``def`` over sync SQLAlchemy in FastAPI's thread pool.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CurrentClient,
    OwnedJob,
    QueueDep,
    RateLimiterDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    known_query_only,
)
from api.schemas import ErrorBody, FramePage, JobAnalysis, JobOut, JobPage, job_out
from api.uploads import Upload, drain, receive_upload
from emotrace import jobs
from emotrace.errors import InvalidParameter, JobNotFinished, RateLimited
from emotrace.models import Client, Job, JobStatus
from emotrace.queue import JobQueue
from emotrace.settings import Settings
from emotrace.storage import RecordingStore, recording_key
from emotrace.webhooks import check_callback_url
from ml.report import CSV_HEADER, PARTICIPANT_CSV_HEADER, csv_row, participant_rows
from ml.transcript import parse_transcript
from ml.video import probe

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(known_query_only)])

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody, "description": "missing or invalid API key"}}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: {"model": ErrorBody, "description": "no such job (or another client's)"},
}
CSV_PAGE_FRAMES = 2000
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})

UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the recording"},
                        "fps": {"type": "number", "exclusiveMinimum": 0},  # default, maximum: document_fps
                        "transcript": {"type": "string", "format": "binary", "description": "JSON, WebVTT or SRT"},
                        "external_id": {"type": "string", "maxLength": 200},
                        "retain_video": {"type": "boolean", "default": False},
                        "callback_url": {"type": "string", "format": "uri"},
                        "faces": {
                            "type": "string",
                            "enum": ["subject", "all"],
                            "default": "subject",
                            "description": "all: follow every person, each with its own timeline",
                        },
                    },
                }
            }
        },
    }
}


def document_fps(openapi: dict[str, Any], settings: Settings) -> None:
    """Fill in the upload form's ``fps`` default and maximum from ``settings``, which ``_params``
    enforces: the form is declared at import time, before any settings exist, and a number
    written there could drift from what the service actually accepts."""
    form = openapi["paths"][router.prefix]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    form["properties"]["fps"].update(default=settings.default_fps, maximum=settings.max_sample_fps)


class JobParams(BaseModel):
    fps: float
    external_id: str | None = Field(None, max_length=200)
    retain_video: bool = False
    callback_url: str | None = None
    faces: Literal["subject", "all"] = "subject"

    @field_validator("external_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """Text the client gets back and may log or show: no NUL, line breaks or escapes."""
        if value is not None and any(unicodedata.category(char) == "Cc" for char in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("retain_video", mode="before")
    @classmethod
    def _boolean_word(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError("must be true or false")
        return value


def _params(fields: dict[str, str], settings: Settings) -> JobParams:
    raw: dict[str, Any] = {"fps": fields.get("fps") or settings.default_fps}
    for name in ("external_id", "retain_video", "callback_url", "faces"):
        if fields.get(name):
            raw[name] = fields[name]
    try:
        params = JobParams.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise InvalidParameter(f"{field}: {error['msg']}") from exc
    if not math.isfinite(params.fps) or not 0 < params.fps <= settings.max_sample_fps:
        raise InvalidParameter(f"fps: must be greater than 0 and at most {settings.max_sample_fps:g}")
    return params


def _create(
    *,
    session: Session,
    settings: Settings,
    store: RecordingStore,
    queue: JobQueue,
    client: Client,
    upload: Upload,
    idempotency_key: str | None,
) -> Job:
    """Probe, validate, store and commit the job, then submit it.

    Submission comes after the commit, so a worker never sees an id it cannot load; if the
    broker is down the job stays queued and the sweep submits it later. A concurrent retry with
    the same idempotency key gets the job the first request created, answered like a new one,
    as an earlier replay is (``_replayed``).
    """
    try:
        if upload.video_path is None:
            raise InvalidParameter("file: a recording is required")
        params = _params(upload.fields, settings)
        cues = None
        if upload.transcript is not None:
            cues = parse_transcript(upload.transcript, filename=upload.transcript_filename)
        if params.callback_url:
            check_callback_url(params.callback_url, settings)
        video = probe(upload.video_path)
        job_id = uuid.uuid4()
        key = recording_key(job_id)
        try:
            with session.begin_nested():
                job = jobs.create_job(
                    session,
                    client_id=client.id,
                    job_id=job_id,
                    video=video,
                    fps=params.fps,
                    chunk_s=settings.chunk_seconds,
                    recording_key=key,
                    retain_video=params.retain_video,
                    external_id=params.external_id,
                    idempotency_key=idempotency_key,
                    callback_url=params.callback_url,
                    transcript=cues,
                    faces=params.faces,
                )
        except IntegrityError:
            existing = jobs.find_by_idempotency_key(session, client.id, idempotency_key) if idempotency_key else None
            if existing is None:
                raise
            return existing  # a concurrent retry of the same POST won the race
        store.put(key, upload.video_path)
        try:
            session.commit()
        except Exception:
            store.delete(key)
            raise
    finally:
        upload.discard()
    try:
        queue.submit(job.id)
    except Exception:
        log.warning("job %s: submit failed; the sweep will submit it", job.id, exc_info=True)
    log.info("job %s created: %d chunks, %.0f s of video", job.id, job.chunks_total, video.duration_s)
    return job


def _replayed(session: Session, client_id: uuid.UUID, idempotency_key: str) -> Job | None:
    """The job an earlier POST with this key created; the connection is released before the
    upload (minutes, maybe) starts."""
    existing = jobs.find_by_idempotency_key(session, client_id, idempotency_key)
    session.commit()
    return existing


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Upload a recording and start a job",
    openapi_extra=UPLOAD_FORM,
    responses={
        **AUTH_ERRORS,
        408: {"model": ErrorBody, "description": "upload_timeout: the upload stalled"},
        413: {"model": ErrorBody, "description": "upload_too_large"},
        415: {"model": ErrorBody, "description": "not_a_video, no_video_stream, truncated_video, ..."},
        422: {"model": ErrorBody, "description": "invalid_parameter, bad_transcript, empty_video, ..."},
        429: {"model": ErrorBody, "description": "rate_limited: wait Retry-After seconds"},
    },
)
async def create_job(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    queue: QueueDep,
    limiter: RateLimiterDep,
    client: CurrentClient,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="a retried POST with the same key returns the same job")
    ] = None,
) -> JSONResponse:
    if idempotency_key:
        existing = await run_in_threadpool(_replayed, session, client.id, idempotency_key)
        if existing is not None:
            await drain(request, started=False)
            return JSONResponse(job_out(existing).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    # A replayed POST (above) is free; a new job costs a token, taken before the body is read.
    wait_s = await run_in_threadpool(limiter.acquire, str(client.id))
    if wait_s > 0:
        await drain(request, started=False)
        raise RateLimited(f"too many new jobs; retry in {math.ceil(wait_s)} s", retry_after_s=wait_s)
    upload = await receive_upload(
        request,
        staging_dir=await run_in_threadpool(store.staging_dir),
        max_video_bytes=settings.max_upload_bytes,
        idle_timeout_s=settings.upload_idle_timeout_s,
    )
    job = await run_in_threadpool(
        lambda: _create(
            session=session,
            settings=settings,
            store=store,
            queue=queue,
            client=client,
            upload=upload,
            idempotency_key=idempotency_key,
        )
    )
    return JSONResponse(job_out(job).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@router.get("", response_model=JobPage, summary="Your jobs, newest first", responses=AUTH_ERRORS)
def list_jobs(
    session: SessionDep,
    client: CurrentClient,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JobPage:
    items, next_cursor = jobs.list_jobs(session, client.id, limit=limit, cursor=cursor)
    return JobPage(items=[job_out(job) for job in items], next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobOut, summary="A job's status and progress", responses=JOB_ERRORS)
def get_job(job: OwnedJob) -> JobOut:
    return job_out(job)


@router.get(
    "/{job_id}/summary",
    response_model=JobAnalysis,
    summary="The analysis, without per-frame rows",
    responses={**JOB_ERRORS, 409: {"model": ErrorBody, "description": "job_not_finished"}},
)
def get_summary(job: OwnedJob, session: SessionDep) -> Response:
    if job.status != JobStatus.SUCCEEDED:
        raise JobNotFinished(f"the job is {job.status}; results exist once it has succeeded")
    text = jobs.summary_json(session, job)
    if text is None:
        raise JobNotFinished("the job's summary is not written yet")
    return Response(content=text, media_type="application/json")


def _range_ms(start: float | None, end: float | None) -> tuple[int | None, int | None]:
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise InvalidParameter(f"{name}: must be a non-negative number of seconds")
    if start is not None and end is not None and end <= start:
        raise InvalidParameter("end: must be after start")
    return (round(start * 1000) if start is not None else None, round(end * 1000) if end is not None else None)


def _iter_csv(
    session: Session,
    job_id: uuid.UUID,
    start_ms: int | None,
    end_ms: int | None,
    *,
    faces: bool = False,
    participant: str | None = None,
) -> Iterator[str]:
    """Pages of frames, each read and released in one step: between pages (while the client
    reads) the stream holds no pooled connection. A ``faces=all`` job gets a row per face."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PARTICIPANT_CSV_HEADER if faces else CSV_HEADER)
    cursor: str | None = None
    while True:
        frames, cursor = jobs.page_frames(
            session,
            job_id,
            start_ms=start_ms,
            end_ms=end_ms,
            cursor=cursor,
            limit=CSV_PAGE_FRAMES,
            faces=faces,
            participant=participant,
        )
        session.commit()
        for frame in frames:
            if faces:
                writer.writerows(participant_rows(frame, participant))
            else:
                writer.writerow(csv_row(frame))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if cursor is None:
            return


@router.get(
    "/{job_id}/frames",
    response_model=FramePage,
    summary="Per-frame emotions in [start, end), paginated; `Accept: text/csv` streams them all",
    responses={
        **JOB_ERRORS,
        200: {"content": {"text/csv": {}}},
        409: {"model": ErrorBody, "description": "job_not_finished (participant frames)"},
        422: {"model": ErrorBody, "description": "invalid_parameter"},
    },
)
def get_frames(
    request: Request,
    job: OwnedJob,
    session: SessionDep,
    start: Annotated[float | None, Query(description="seconds, inclusive")] = None,
    end: Annotated[float | None, Query(description="seconds, exclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    participant: Annotated[
        str | None,
        Query(max_length=16, description='a participant id ("p1") of a faces=all job: that person\'s frames'),
    ] = None,
) -> Response:
    start_ms, end_ms = _range_ms(start, end)
    faces = job.faces == "all" and job.status == JobStatus.SUCCEEDED  # faces get participants at the end
    if participant is not None:
        if not faces:
            raise InvalidParameter("participant: the job was not run with faces=all")
        if job.status != JobStatus.SUCCEEDED:
            raise JobNotFinished("participants exist once the job has succeeded")
        if not jobs.has_participant(session, job.id, participant):
            raise InvalidParameter(f"participant: no participant {participant!r} in this job")
    if "text/csv" in request.headers.get("accept", ""):
        # The request's session stays open until the response is sent (FastAPI >= 0.118).
        return StreamingResponse(
            _iter_csv(session, job.id, start_ms, end_ms, faces=faces, participant=participant),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{job.id}-frames.csv"'},
        )
    items, next_cursor = jobs.page_frames(
        session,
        job.id,
        start_ms=start_ms,
        end_ms=end_ms,
        cursor=cursor,
        limit=limit,
        faces=faces,
        participant=participant,
    )
    page = FramePage(items=items, next_cursor=next_cursor)
    return Response(content=page.model_dump_json(), media_type="application/json")


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Stop a queued or running job; it stays listed as cancelled, its recording and results deleted",
    responses={**JOB_ERRORS, 409: {"model": ErrorBody, "description": "job_finished: the job had already ended"}},
)
def cancel_job(job: OwnedJob, session: SessionDep, store: StoreDep) -> JobOut:
    cancelled, key = jobs.cancel_job(session, job.id)
    out = job_out(cancelled)
    session.commit()
    if key is not None:
        store.delete(key)
    log.info("job %s cancelled", cancelled.id)
    return out


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel a job if running, and delete its recording and all results",
    responses=JOB_ERRORS,
)
def delete_job(job: OwnedJob, session: SessionDep, store: StoreDep) -> Response:
    job_id = job.id
    key = jobs.delete_job(session, job_id)
    session.commit()
    if key is not None:
        store.delete(key)
    log.info("job %s deleted", job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
