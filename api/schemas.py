"""Request and response models of the REST API, and how a job row becomes its JSON.

The analysis itself keeps ``ml.schema``'s models (one schema for CLI, API and page); these are
the service's own envelopes around it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emotrace import jobs
from emotrace.models import Job, JobStatus
from ml.schema import (
    SCHEMA_VERSION,
    AnalysisSettings,
    Frame,
    MinuteBin,
    Participant,
    Segment,
    Summary,
    TranscriptSegment,
    VideoInfo,
)


class ErrorBody(BaseModel):
    code: str = Field(description="stable snake_case error code")
    message: str = Field(description="what went wrong, for people")


class JobError(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"title": "Job"})

    id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1, description="share of chunks done")
    chunks_done: int
    chunks_total: int
    external_id: str | None
    fps: float = Field(description="samples per second of video")
    retain_video: bool
    faces: Literal["subject", "all"] = Field(description="subject: the main face; all: every participant")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    video: VideoInfo | None
    error: JobError | None


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class FramePage(BaseModel):
    items: list[Frame]
    next_cursor: str | None


class JobAnalysis(BaseModel):
    """``ml.schema.Analysis`` without ``frames`` (page through ``/frames`` for those)."""

    schema_version: str = SCHEMA_VERSION
    video: VideoInfo
    analysis: AnalysisSettings
    segments: list[Segment]
    timeline: list[MinuteBin]
    summary: Summary
    transcript: list[TranscriptSegment] | None = None
    participants: list[Participant] | None = Field(None, description="every person seen (faces=all jobs only)")


class Health(BaseModel):
    status: str


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        status=JobStatus(job.status).value,
        progress=jobs.progress(job),
        chunks_done=job.chunks_done,
        chunks_total=job.chunks_total,
        external_id=job.external_id,
        fps=job.fps,
        retain_video=job.retain_video,
        faces="all" if job.faces == "all" else "subject",
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        video=VideoInfo.model_validate(job.video) if job.video else None,
        error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
    )
