"""The pipeline on real clips: faces where people are, none where nobody is, chunked == whole."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from ml.classifier import EmotionClassifier
from ml.errors import TruncatedVideo
from ml.pipeline import analyze_file, analyze_range
from tests.ml.conftest import TALKING_HEADS


def test_talking_heads_have_a_face_nearly_always(videos_dir: Path, classifier: EmotionClassifier) -> None:
    for name in TALKING_HEADS:
        analysis = analyze_file(videos_dir / name, classifier=classifier)
        assert analysis.summary.face_visible_ratio >= 0.9, name
        for frame in analysis.frames:
            if frame.face:
                assert frame.box is not None and frame.probs is not None
                assert abs(sum(frame.probs.values()) - 1) < 1e-3


def test_no_face_clip_gives_a_valid_empty_result(videos_dir: Path, classifier: EmotionClassifier) -> None:
    analysis = analyze_file(videos_dir / "pyfeat_no_face.mp4", classifier=classifier)
    assert analysis.frames and all(not f.face and f.probs is None and f.box is None for f in analysis.frames)
    assert analysis.summary.face_visible_ratio == 0.0
    assert analysis.summary.dominant_emotion is None and analysis.segments == []


def _face_flags(path: Path, classifier: EmotionClassifier) -> list[bool]:
    return [frame.face for frame in analyze_range(path, classifier=classifier)]


def test_face_then_none_and_none_then_face(videos_dir: Path, classifier: EmotionClassifier) -> None:
    first = _face_flags(videos_dir / "pyfeat_face_noface.mov", classifier)
    half = len(first) // 2
    assert any(first[:half]) and not any(first[half + 1 :])
    second = _face_flags(videos_dir / "pyfeat_noface_face.mov", classifier)
    half = len(second) // 2
    assert not any(second[:half]) and any(second[half + 1 :])


def test_chunked_analysis_equals_whole(videos_dir: Path, classifier: EmotionClassifier) -> None:
    clip = videos_dir / "liveportrait_driving_d6.mp4"  # 33.6 s: chunks of 10 s, the last one partial
    whole = list(analyze_range(clip, classifier=classifier))
    chunked = [
        frame
        for start, end in ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, None))
        for frame in analyze_range(clip, start_s=start, end_s=end, classifier=classifier)
    ]
    assert [f.t for f in chunked] == [f.t for f in whole]
    assert [f.box for f in chunked] == [f.box for f in whole]
    for a, b in zip(chunked, whole, strict=True):
        if a.probs is not None:
            assert b.probs is not None
            np.testing.assert_allclose(list(a.probs.values()), list(b.probs.values()), atol=1e-6)


def test_range_and_every_nth(videos_dir: Path, classifier: EmotionClassifier) -> None:
    analysis = analyze_file(videos_dir / "liveportrait_driving_d3.mp4", start_s=2.0, end_s=5.0, classifier=classifier)
    assert [f.t for f in analysis.frames] == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    assert analysis.summary.duration_s == 3.0
    nth = analyze_file(videos_dir / "retalking_face_2.mp4", every_nth=25, classifier=classifier)
    assert nth.analysis.sample_fps == 1.0 and len(nth.frames) == 5


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("emotrace-decode", "emotrace-classify"))]


def test_stopping_early_leaves_no_thread_behind(videos_dir: Path, classifier: EmotionClassifier) -> None:
    frames = analyze_range(videos_dir / "liveportrait_driving_d6.mp4", classifier=classifier, batch_size=4)
    first = next(frames)
    assert first.t == 0.0 and _pipeline_threads()
    frames.close()  # what a worker does when its chunk is cancelled
    assert _pipeline_threads() == []


def test_decode_errors_reach_the_consumer(videos_dir: Path, tmp_path: Path, classifier: EmotionClassifier) -> None:
    data = (videos_dir / "liveportrait_driving_d6.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedVideo):
        list(analyze_range(cut, classifier=classifier))
    assert _pipeline_threads() == []
