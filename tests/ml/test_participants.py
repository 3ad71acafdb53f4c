"""``--faces all`` on call recordings with known ground truth, built from clips of different people:
galleries (one person per tile) and a speaker view cutting between three people, with transcripts
whose speakers follow the layout."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.calls import Gallery, SpeakerView
from emotrace.devstack import run_cli
from ml.classifier import EmotionClassifier
from ml.participants import FaceObservation, track_participants
from ml.pipeline import analyze_file, analyze_samples
from ml.schema import Analysis
from ml.transcript import parse_transcript


def _analyse(path: Path, classifier: EmotionClassifier, cues: list[dict[str, object]] | None = None) -> Analysis:
    transcript = parse_transcript(json.dumps(cues)) if cues else None
    return analyze_file(path, faces="all", transcript=transcript, classifier=classifier)


@pytest.fixture(scope="session")
def gallery_2x2_result(gallery_2x2: Gallery, classifier: EmotionClassifier) -> Analysis:
    return _analyse(gallery_2x2.path, classifier, gallery_2x2.cues)


@pytest.fixture(scope="session")
def speaker_view_result(speaker_view: SpeakerView, classifier: EmotionClassifier) -> Analysis:
    return _analyse(speaker_view.path, classifier, speaker_view.cues)


def _tile_of(tiles: list[tuple[int, int, int, int]], box: tuple[int, int, int, int]) -> int | None:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return next((i for i, (x, y, w, h) in enumerate(tiles) if x <= cx < x + w and y <= cy < y + h), None)


Truth = Callable[[float, tuple[int, int, int, int]], int | None]
"""The true person at a time and face box, from how the recording was built."""


def _truth_counts(analysis: Analysis, truth: Truth) -> dict[str, Counter[int | None]]:
    counts: dict[str, Counter[int | None]] = defaultdict(Counter)
    for frame in analysis.frames:
        assert frame.faces is not None
        for face in frame.faces:
            counts[face.participant][truth(frame.t, face.box)] += 1
    return counts


def _assert_one_person_each(counts: dict[str, Counter[int | None]], people: int, purity: float = 0.9) -> None:
    """Every participant is mostly one true person, and every person is one participant."""
    assert len(counts) == people, counts
    owners: dict[int | None, str] = {}
    for participant, seen in counts.items():
        person, hits = seen.most_common(1)[0]
        assert hits / sum(seen.values()) >= purity, (participant, seen)
        assert person not in owners, f"{participant} and {owners.get(person)} are both person {person}"
        owners[person] = participant


def test_a_2x2_gallery_gives_four_participants_each_in_its_own_tile(
    gallery_2x2: Gallery, gallery_2x2_result: Analysis
) -> None:
    analysis = gallery_2x2_result
    assert analysis.participants is not None and len(analysis.participants) == 4
    counts = _truth_counts(analysis, lambda t, box: _tile_of(gallery_2x2.tiles, box))
    _assert_one_person_each(counts, 4, purity=1.0)  # a participant never leaves its tile
    for person in analysis.participants:
        assert person.face_visible_ratio >= 0.8, person.id
        assert person.summary.face_frames == person.frames
        assert abs(sum(person.summary.time_share.values()) - 1) < 1e-6
        assert person.timeline and person.segments
    assert [p.frames for p in analysis.participants] == sorted((p.frames for p in analysis.participants), reverse=True)
    for frame in analysis.frames:
        assert frame.faces is not None and len({f.participant for f in frame.faces}) == len(frame.faces)
        if frame.face:  # the main subject is one of the sample's faces
            assert frame.box in [f.box for f in frame.faces]


def test_gallery_speakers_are_named_from_whose_mouth_moves(gallery_2x2: Gallery, gallery_2x2_result: Analysis) -> None:
    analysis = gallery_2x2_result
    assert analysis.participants is not None
    for person in analysis.participants:
        first = next(f for frame in analysis.frames for f in frame.faces or [] if f.participant == person.id)
        tile = _tile_of(gallery_2x2.tiles, first.box)
        assert tile is not None
        assert person.speaker == f"speaker{tile + 1}", (person.id, tile, person.speaker)
        assert person.speaker_confidence is not None and 0.3 <= person.speaker_confidence <= 1


def test_a_3x3_gallery_at_720p_finds_all_nine(gallery_3x3: Gallery, classifier: EmotionClassifier) -> None:
    analysis = _analyse(gallery_3x3.path, classifier)
    assert analysis.participants is not None
    counts = _truth_counts(analysis, lambda t, box: _tile_of(gallery_3x3.tiles, box))
    _assert_one_person_each(counts, 9, purity=1.0)
    assert all(p.face_visible_ratio >= 0.7 for p in analysis.participants), [
        (p.id, p.face_visible_ratio) for p in analysis.participants
    ]
    assert all(p.speaker is None and p.speaker_confidence is None for p in analysis.participants)


def test_a_speaker_view_keeps_each_person_across_cuts(speaker_view: SpeakerView, speaker_view_result: Analysis) -> None:
    analysis = speaker_view_result
    counts = _truth_counts(analysis, lambda t, box: next(i for start, end, i in speaker_view.shots if start <= t < end))
    _assert_one_person_each(counts, 3)
    assert analysis.participants is not None
    for person in analysis.participants:
        person_index = counts[person.id].most_common(1)[0][0]
        assert person_index is not None
        assert person.speaker == f"speaker{person_index + 1}"
        assert person.speaker_confidence is not None and person.speaker_confidence >= 0.8


def _observations(
    path: Path, classifier: EmotionClassifier, start_s: float, end_s: float | None
) -> list[FaceObservation]:
    samples = analyze_samples(path, start_s=start_s, end_s=end_s, classifier=classifier, faces="all")
    return [item for _, observed in samples for item in observed or []]


def test_chunks_describe_more_and_give_the_participants_of_the_whole_file(
    speaker_view: SpeakerView, classifier: EmotionClassifier
) -> None:
    """Tracks going on across an edge carry their identity in a whole-file pass; a chunk describes
    them again at its start, and the merge must still group exactly as for the whole file."""
    whole = _observations(speaker_view.path, classifier, 0.0, None)
    chunked = [
        item
        for start, end in ((0.0, 10.0), (10.0, 20.0), (20.0, None))
        for item in _observations(speaker_view.path, classifier, start, end)
    ]

    def without_identity(items: list[FaceObservation]) -> list[tuple[object, ...]]:
        return [(o.t_ms, o.index, o.track, o.box, o.colours) for o in items]

    assert without_identity(chunked) == without_identity(whole)
    described = {o.track for o in whole if o.descriptor is not None}
    assert described < {o.track for o in chunked if o.descriptor is not None}
    assert len(described) < len({o.track for o in whole})  # some tracks went on without a descriptor
    owners = track_participants(whole)
    assert track_participants(chunked) == owners and len(set(owners.values())) == 3


def test_transcript_segments_read_their_speakers_own_face(speaker_view_result: Analysis) -> None:
    analysis = speaker_view_result
    assert analysis.transcript is not None and analysis.participants is not None
    by_speaker = {p.speaker: p.id for p in analysis.participants}
    for segment in analysis.transcript:
        assert segment.participant == by_speaker[segment.speaker]
        assert segment.face_frames > 0 and segment.mean_probs is not None


def test_weak_evidence_names_nobody(gallery_2x2: Gallery, classifier: EmotionClassifier) -> None:
    """A transcript whose speakers do not follow anyone's face maps no speaker."""
    cues: list[dict[str, object]] = [
        {"start": float(t), "end": float(t) + 1, "speaker": "alice" if t % 2 else "bob", "text": "..."}
        for t in range(24)
    ]
    analysis = _analyse(gallery_2x2.path, classifier, cues)
    assert analysis.participants is not None
    assert all(p.speaker is None and p.speaker_confidence is None for p in analysis.participants)
    assert analysis.transcript is not None and all(s.participant is None for s in analysis.transcript)


def test_a_recording_without_faces_has_no_participants(videos_dir: Path, classifier: EmotionClassifier) -> None:
    analysis = analyze_file(videos_dir / "pyfeat_no_face.mp4", faces="all", classifier=classifier)
    assert analysis.participants == []
    assert all(frame.faces == [] for frame in analysis.frames)
    assert json.loads(analysis.model_dump_json())["participants"] == []


def test_subject_mode_output_keeps_its_schema(videos_dir: Path, classifier: EmotionClassifier) -> None:
    """``--faces subject`` JSON has exactly the keys it had before participants existed."""
    analysis = analyze_file(videos_dir / "retalking_face_1.mp4", classifier=classifier)
    data = json.loads(analysis.model_dump_json())
    assert list(data) == [
        "schema_version",
        "video",
        "analysis",
        "frames",
        "segments",
        "timeline",
        "summary",
        "transcript",
    ]
    assert list(data["analysis"]) == ["sample_fps", "start_s", "end_s", "detector", "smoothing", "model"]
    assert data["analysis"]["detector"] == "haar"
    assert all(list(frame) == ["t", "face", "box", "probs"] for frame in data["frames"])


def test_cli_faces_all_writes_participants_csv_and_report(speaker_view: SpeakerView, tmp_path: Path) -> None:
    env = dict(os.environ)
    transcript = tmp_path / "t.json"
    transcript.write_text(json.dumps(speaker_view.cues))
    out, table, report = tmp_path / "a.json", tmp_path / "f.csv", tmp_path / "r.html"
    result = run_cli(
        "analyze",
        str(speaker_view.path),
        "--faces",
        "all",
        "--transcript",
        str(transcript),
        "--json",
        str(out),
        "--csv",
        str(table),
        "--report",
        str(report),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "3 participants" in result.stdout
    data = json.loads(out.read_text())
    assert data["analysis"]["faces"] == "all" and data["analysis"]["detector"] == "yunet"
    assert [p["id"] for p in data["participants"]] == ["p1", "p2", "p3"]
    lines = table.read_text().splitlines()
    assert lines[0].endswith(",participant")
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"p1", "p2", "p3"}
    page = report.read_text()
    for person in data["participants"]:
        assert f"{person['id']} — {person['speaker']}</h3>" in page
    bad = run_cli("analyze", str(speaker_view.path), "--faces", "everyone", env=env)
    assert bad.returncode == 2 and "invalid_argument" in bad.stderr
