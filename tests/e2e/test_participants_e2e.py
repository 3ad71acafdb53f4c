"""A ``faces=all`` job through the real service: chunks analysed apart by two Celery workers give
the participants, frames and CSV that ``emotrace analyze --faces all`` gives for the whole file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.calls import SpeakerView
from emotrace.devstack import Processes
from emotrace.settings import Settings
from tests.api.test_api import assert_error, upload
from tests.e2e.test_jobs_e2e import ClientFactory, all_frames, analyze_cli
from tests.services import wait_for_job


def _participant_frames(client: httpx.Client, job_id: str, participant: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7, "participant": participant, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/jobs/{job_id}/frames", params=params).raise_for_status().json()
        frames += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return frames


@pytest.mark.slow
def test_a_chunked_faces_all_job_gives_the_participants_of_the_whole_file(
    make_client: ClientFactory,
    workers: Processes,
    settings: Settings,
    service_env: dict[str, str],
    speaker_view: SpeakerView,
    tmp_path: Path,
) -> None:
    client = make_client()
    transcript = tmp_path / "t.json"
    transcript.write_text(json.dumps(speaker_view.cues))
    with speaker_view.path.open("rb") as video:
        response = client.post(
            "/v1/jobs",
            files={"file": ("call.mp4", video, "video/mp4"), "transcript": ("t.json", transcript.read_bytes())},
            data={"faces": "all"},
        )
    assert response.status_code == 202, response.text
    assert response.json()["faces"] == "all"
    job_id = response.json()["id"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "succeeded", job
    assert job["chunks_total"] == 3  # 24 s in 10-s chunks: tracks are cut at both edges

    expected, expected_csv = analyze_cli(
        speaker_view.path, tmp_path, service_env, "--faces", "all", "--transcript", str(transcript)
    )
    expected_frames = expected.pop("frames")
    summary = client.get(f"/v1/jobs/{job_id}/summary").raise_for_status().json()
    assert summary == expected
    assert len(summary["participants"]) == 3
    assert {p["speaker"] for p in summary["participants"]} == {"speaker1", "speaker2", "speaker3"}
    assert all_frames(client, job_id, limit=9) == expected_frames
    assert client.get(f"/v1/jobs/{job_id}/frames", headers={"Accept": "text/csv"}).text == expected_csv

    for person in summary["participants"]:
        own = _participant_frames(client, job_id, person["id"])
        assert [f["t"] for f in own] == [f["t"] for f in expected_frames]
        seen = [f for f in own if f["face"]]
        assert len(seen) == person["frames"]
        expected_faces = [f for frame in expected_frames for f in frame["faces"] if f["participant"] == person["id"]]
        assert [(f["box"], f["probs"]) for f in seen] == [(tuple(f["box"]), f["probs"]) for f in expected_faces] or [
            (f["box"], f["probs"]) for f in seen
        ] == [(f["box"], f["probs"]) for f in expected_faces]
        table = client.get(
            f"/v1/jobs/{job_id}/frames", params={"participant": person["id"]}, headers={"Accept": "text/csv"}
        ).text.splitlines()
        assert table[0].endswith(",participant")
        assert sum(1 for line in table[1:] if line.split(",")[1] == "1") == person["frames"]
        assert all(line.endswith("," + person["id"]) for line in table[1:])

    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"participant": "p9"}), 422, "invalid_parameter")


def test_participant_frames_need_a_faces_all_job(
    make_client: ClientFactory, workers: Processes, short_clip: Path
) -> None:
    client = make_client()
    assert_error(upload(client, short_clip, faces="everyone"), 422, "invalid_parameter")
    response = upload(client, short_clip)
    assert response.status_code == 202 and response.json()["faces"] == "subject"
    job_id = response.json()["id"]
    assert wait_for_job(client, job_id)["status"] == "succeeded"
    assert "participants" not in client.get(f"/v1/jobs/{job_id}/summary").json()
    assert all("faces" not in frame for frame in all_frames(client, job_id, limit=100))
    assert_error(client.get(f"/v1/jobs/{job_id}/frames", params={"participant": "p1"}), 422, "invalid_parameter")
