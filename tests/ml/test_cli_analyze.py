"""``emotrace analyze`` as a user runs it: outputs on success, one line and exit 2 on bad input."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml import EMOTIONS
from ml.schema import Analysis
from tests.ml.conftest import write_audio_only, write_zero_frames


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emotrace.cli", "analyze", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_analyze_writes_json_csv_and_report(videos_dir: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "call.srt"
    transcript.write_text("1\n00:00:00,000 --> 00:00:02,000\nfirst\n\n2\n00:00:02,000 --> 00:00:04,000\nsecond\n")
    out = tmp_path / "out"
    out.mkdir()
    result = _run(
        videos_dir / "retalking_face_1.mp4",
        "--json",
        out / "a.json",
        "--csv",
        out / "f.csv",
        "--report",
        out / "r.html",
        "--transcript",
        transcript,
    )
    assert result.returncode == 0, result.stderr
    assert "dominant emotion" in result.stdout
    assert int(re.search(r"face visible (\d+)%", result.stdout).group(1)) >= 90  # type: ignore[union-attr]
    analysis = Analysis.model_validate_json((out / "a.json").read_text())
    raw = json.loads((out / "a.json").read_text())
    assert set(raw) >= {"video", "frames", "segments", "summary", "transcript", "timeline"}
    assert set(raw["video"]) >= {"duration_s", "fps", "width", "height"}
    assert len(analysis.frames) == 13 and analysis.transcript is not None and len(analysis.transcript) == 2
    with (out / "f.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 13 and list(rows[0])[6:] == list(EMOTIONS)
    assert abs(sum(float(rows[0][e]) for e in EMOTIONS) - 1) < 1e-3
    report = (out / "r.html").read_text()
    assert "echarts.init" in report and "<script src=" not in report  # self-contained
    dominant = analysis.summary.dominant_emotion
    assert dominant is not None and dominant in report


def test_no_face_video_is_a_valid_result(videos_dir: Path, tmp_path: Path) -> None:
    result = _run(videos_dir / "pyfeat_no_face.mp4", "--json", tmp_path / "a.json")
    assert result.returncode == 0, result.stderr
    assert Analysis.model_validate_json((tmp_path / "a.json").read_text()).summary.face_visible_ratio == 0.0


@pytest.fixture()
def bad_inputs(videos_dir: Path, tmp_path: Path) -> dict[str, list[str | Path]]:
    text = tmp_path / "text.mp4"
    text.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    data = (videos_dir / "liveportrait_driving_d6.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    bad_transcript = tmp_path / "t.json"
    bad_transcript.write_text('[{"start": 5, "end": 1}]')
    clip = videos_dir / "retalking_face_1.mp4"
    return {
        "video_not_found": [tmp_path / "missing.mp4"],
        "not_a_video": [text],
        "not_a_video:empty": [empty],
        "truncated_video": [truncated],
        "no_video_stream": [write_audio_only(tmp_path / "voice.m4a")],
        "empty_video": [write_zero_frames(tmp_path / "nothing.avi")],
        "bad_time_range": [clip, "--start", "4", "--end", "2"],
        "bad_time_range:fps": [clip, "--fps", "0"],
        "bad_time_range:beyond": [clip, "--start", "100"],
        "bad_transcript": [clip, "--transcript", bad_transcript],
    }


def test_each_bad_input_is_one_line_and_exit_2(bad_inputs: dict[str, list[str | Path]]) -> None:
    for name, args in bad_inputs.items():
        result = _run(*args)
        code = name.split(":")[0]
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), (name, result.stderr)
