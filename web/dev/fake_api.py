"""A stand-in for the job API for working on the page alone (`npm run dev` proxies /v1 to it).

Implements the REST contract in memory with made-up results; the page's tests never use it: they
run against the real service (tests/web). Run: `python web/dev/fake_api.py [PORT]` (key: `dev-key`).
A reference starting with "fail" makes a failed job; one starting with "long", a two-hour one.
"""

from __future__ import annotations

import math
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, File, Form, Header, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ml import EMOTIONS

KEY = "dev-key"
RUN_SECONDS = 6.0
JOBS: dict[str, dict[str, Any]] = {}

app = FastAPI()


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def authorized(authorization: str | None) -> bool:
    return authorization == f"Bearer {KEY}"


def make_frames(duration_s: float, fps: float, rng: random.Random) -> list[dict[str, Any]]:
    frames = []
    for i in range(int(duration_s * fps)):
        t = round(i / fps, 3)
        face = not (0.4 < (t / max(duration_s, 1)) < 0.5)
        if face:
            raw = [math.exp(2 * math.sin(t / (3 + k)) + rng.random()) for k in range(len(EMOTIONS))]
            total = sum(raw)
            probs = {e: v / total for e, v in zip(EMOTIONS, raw, strict=True)}
        frames.append(
            {"t": t, "face": face, "box": [10, 10, 50, 50] if face else None, "probs": probs if face else None}
        )
    return frames


def summarize(frames: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    face = [f for f in frames if f["face"]]
    counts = dict.fromkeys(EMOTIONS, 0)
    for f in face:
        counts[max(f["probs"], key=f["probs"].get)] += 1
    share = {e: (counts[e] / len(face) if face else 0.0) for e in EMOTIONS}
    mean = {e: sum(f["probs"][e] for f in face) / len(face) for e in EMOTIONS} if face else None
    segments, current = [], None
    for f in frames:
        emotion = max(f["probs"], key=f["probs"].get) if f["face"] else None
        if current and (emotion != current["emotion"]):
            segments.append(current)
            current = None
        if emotion and not current:
            current = {"start": f["t"], "end": f["t"], "emotion": emotion, "frames": 0, "mean_probs": f["probs"]}
        if current:
            current["end"] = f["t"]
            current["frames"] += 1
    if current:
        segments.append(current)
    return {
        "schema_version": "1.0",
        "video": {"duration_s": duration_s, "fps": 25.0, "width": 640, "height": 480, "rotation": 0, "codec": "h264"},
        "analysis": {
            "sample_fps": 2.0,
            "start_s": 0.0,
            "end_s": duration_s,
            "detector": "haar",
            "smoothing": "centred mean over 5 samples",
            "model": "fake",
        },
        "segments": segments,
        "timeline": [],
        "summary": {
            "duration_s": duration_s,
            "frames": len(frames),
            "face_frames": len(face),
            "face_visible_ratio": len(face) / len(frames) if frames else 0.0,
            "dominant_emotion": max(share, key=lambda e: share[e]) if face else None,
            "mean_probs": mean,
            "time_share": share,
        },
        "transcript": [
            {
                "start": 1.0,
                "end": 4.0,
                "speaker": "A",
                "text": "<b>not bold</b>",
                "face_frames": 6,
                "mean_probs": mean,
                "dominant_emotion": "neutral",
            }
        ],
    }


def public(job: dict[str, Any]) -> dict[str, Any]:
    elapsed = time.monotonic() - job["t0"]
    if job["status"] not in ("failed", "cancelled"):
        job["progress"] = min(1.0, elapsed / RUN_SECONDS)
        job["status"] = "succeeded" if elapsed >= RUN_SECONDS else ("running" if elapsed > 1 else "queued")
        job["chunks_done"] = int(job["progress"] * job["chunks_total"])
    return {k: v for k, v in job.items() if k not in ("t0", "frames", "result")}


@app.post("/v1/jobs", status_code=202)
async def create_job(
    file: Annotated[UploadFile, File()],
    authorization: Annotated[str | None, Header()] = None,
    fps: Annotated[float, Form()] = 2.0,
    external_id: Annotated[str | None, Form()] = None,
    retain_video: Annotated[bool, Form()] = False,
    transcript: Annotated[UploadFile | None, File()] = None,
) -> Any:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    head = await file.read(64)
    if b"ftyp" not in head and not head.startswith(b"\x1a\x45\xdf\xa3"):
        return error(415, "not_a_video", "The upload is not a video container.")
    now = datetime.now(UTC).isoformat()
    duration = 7200.0 if (external_id or "").startswith("long") else 30.0
    job_id = str(uuid.uuid4())
    frames = make_frames(duration, fps, random.Random(job_id))
    failed = (external_id or "").startswith("fail")
    JOBS[job_id] = {
        "id": job_id,
        "status": "failed" if failed else "queued",
        "progress": 0.0,
        "chunks_done": 0,
        "chunks_total": 3,
        "external_id": external_id,
        "fps": fps,
        "retain_video": retain_video,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "video": {"duration_s": duration, "fps": 25.0, "width": 640, "height": 480, "rotation": 0, "codec": "h264"},
        "error": {"code": "truncated_video", "message": "The video ends early at 12.0 s."} if failed else None,
        "t0": time.monotonic(),
        "frames": frames,
        "result": summarize(frames, duration),
    }
    return JSONResponse(public(JOBS[job_id]), status_code=202)


@app.get("/v1/jobs")
def list_jobs(authorization: Annotated[str | None, Header()] = None, limit: int = 50) -> Any:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    items = [public(j) for j in sorted(JOBS.values(), key=lambda j: j["created_at"], reverse=True)][:limit]
    return {"items": items, "next_cursor": None}


@app.get("/v1/jobs/{job_id}")
def get_job(job_id: str, authorization: Annotated[str | None, Header()] = None) -> Any:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    if job_id not in JOBS:
        return error(404, "job_not_found", "No such job.")
    return public(JOBS[job_id])


@app.get("/v1/jobs/{job_id}/summary")
def get_summary(job_id: str, authorization: Annotated[str | None, Header()] = None) -> Any:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    if job_id not in JOBS:
        return error(404, "job_not_found", "No such job.")
    if public(JOBS[job_id])["status"] != "succeeded":
        return error(409, "job_not_finished", "The job has not finished.")
    return JOBS[job_id]["result"]


@app.get("/v1/jobs/{job_id}/frames")
def get_frames(
    job_id: str,
    authorization: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
    cursor: str | None = None,
    limit: int = 1000,
) -> Any:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    if job_id not in JOBS:
        return error(404, "job_not_found", "No such job.")
    frames = JOBS[job_id]["frames"]
    if accept == "text/csv":
        lines = ["t,face," + ",".join(EMOTIONS)]
        for f in frames:
            values = [f"{f['probs'][e]:.4f}" for e in EMOTIONS] if f["face"] else [""] * len(EMOTIONS)
            lines.append(f"{f['t']},{int(f['face'])}," + ",".join(values))
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/csv")
    start = int(cursor or 0)
    limit = min(limit, 25 if len(frames) < 1000 else 1000)  # small pages so paging is exercised
    items = frames[start : start + limit]
    return {"items": items, "next_cursor": str(start + limit) if start + limit < len(frames) else None}


@app.delete("/v1/jobs/{job_id}", status_code=204, response_model=None)
def delete_job(job_id: str, authorization: Annotated[str | None, Header()] = None) -> Response:
    if not authorized(authorization):
        return error(401, "unauthorized", "Missing or invalid API key.")
    if JOBS.pop(job_id, None) is None:
        return error(404, "job_not_found", "No such job.")
    return Response(status_code=204)


STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
if STATIC.is_dir():
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="static")

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
