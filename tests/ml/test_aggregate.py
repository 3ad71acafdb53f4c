"""Aggregation properties on hand-made frame sequences."""

from __future__ import annotations

import numpy as np

from ml import EMOTIONS
from ml.aggregate import build_analysis, per_minute, segments, smooth, summarize
from ml.schema import AnalysisSettings, Frame, VideoInfo
from ml.transcript import Cue


def _frame(t: float, label: int | None, strength: float = 0.9) -> Frame:
    if label is None:
        return Frame(t=t, face=False)
    probs = np.full(len(EMOTIONS), (1 - strength) / (len(EMOTIONS) - 1))
    probs[label] = strength
    return Frame(t=t, face=True, box=(0, 0, 10, 10), probs=dict(zip(EMOTIONS, probs.tolist(), strict=True)))


LABELS = [0, 0, 0, 1, 0, 0, None, None, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
FRAMES = [_frame(i * 0.5, label) for i, label in enumerate(LABELS)]


def test_smoothing_keeps_distributions_and_gaps() -> None:
    smoothed = smooth(FRAMES)
    for frame, vector in zip(FRAMES, smoothed, strict=True):
        assert (vector is None) == (not frame.face)
        if vector is not None:
            assert abs(vector.sum() - 1) < 1e-9
    flicker, after_gap = smoothed[3], smoothed[8]
    assert flicker is not None and after_gap is not None
    # The one-frame flicker to happiness at index 3 is smoothed away.
    assert int(np.argmax(flicker)) == 0
    # Index 8 is the first face after the gap: its window does not reach back across it, so it
    # averages only the identical happiness frames that follow and equals frame 8's own vector.
    probs = FRAMES[8].probs
    assert probs is not None
    np.testing.assert_allclose(after_gap, [probs[name] for name in EMOTIONS])
    assert int(np.argmax(after_gap)) == 1


def test_segments_never_span_a_gap_and_cover_face_frames() -> None:
    smoothed = smooth(FRAMES)
    found = segments(FRAMES, smoothed, 0.5)
    assert [s.emotion for s in found] == ["neutral", "happiness", "surprise"]
    assert found[0].end <= 3.0 and found[1].start == 4.0
    assert sum(s.frames for s in found) == sum(f.face for f in FRAMES)
    for s in found:
        assert s.start < s.end


def test_a_folded_blip_does_not_split_one_emotion_in_two() -> None:
    # neutral x4, one happiness sample, neutral x4 -> one neutral segment (no smoothing: window 1)
    frames = [_frame(i * 0.5, label) for i, label in enumerate([0, 0, 0, 0, 1, 0, 0, 0, 0])]
    found = segments(frames, smooth(frames, window=1), 0.5)
    assert [(s.emotion, s.frames) for s in found] == [("neutral", 9)]


def test_summary_and_minutes() -> None:
    smoothed = smooth(FRAMES)
    summary = summarize(FRAMES, smoothed, 0.0, 10.0)
    assert summary.face_frames == 18 and summary.face_visible_ratio == 0.9
    assert abs(sum(summary.time_share.values()) - 1) < 1e-6
    assert summary.dominant_emotion == "surprise"
    long_frames = [_frame(t, 0 if t < 60 else 4) for t in np.arange(0, 150, 0.5)]
    bins = per_minute(long_frames, smooth(long_frames), 0.0, 150.0)
    assert [b.minute for b in bins] == [0, 1, 2]
    assert [b.dominant_emotion for b in bins] == ["neutral", "anger", "anger"]
    assert bins[2].end == 150.0 and bins[0].frames == 120


def test_build_analysis_with_transcript() -> None:
    video = VideoInfo(duration_s=10.0, fps=25.0, width=640, height=480)
    settings = AnalysisSettings(sample_fps=2.0, start_s=0.0, end_s=10.0, detector="haar", smoothing="x", model="m")
    cues = [Cue(0.0, 2.0, "client", "hello"), Cue(3.1, 3.3, None, None), Cue(6.5, 9.9, "therapist", None)]
    analysis = build_analysis(video=video, settings=settings, frames=list(reversed(FRAMES)), transcript=cues)
    assert [f.t for f in analysis.frames] == sorted(f.t for f in FRAMES)
    assert analysis.transcript is not None
    assert [c.dominant_emotion for c in analysis.transcript] == ["neutral", None, "surprise"]
    assert analysis.transcript[1].face_frames == 0  # the nearest sample (3.0 s) has no face
