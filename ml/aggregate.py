"""From per-frame probabilities to what a reader wants: smoothed curves, segments, minutes, summary.

Pure functions of their arguments: no I/O, clock or globals. The CLI and the job service both
build their result with :func:`build_analysis` over the same frames, so they agree exactly.

Smoothing: a centred moving average over ``SMOOTHING_WINDOW`` samples (5 = 2.5 s at the default
2 fps). It hides single-frame flicker of the classifier while keeping a 3-second expression; a
frame without a face breaks the window, so nothing is smoothed across a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ml import EMOTIONS
from ml.schema import (
    Analysis,
    AnalysisSettings,
    Frame,
    MinuteBin,
    Probs,
    Segment,
    Summary,
    TranscriptSegment,
    VideoInfo,
)
from ml.transcript import Cue

if TYPE_CHECKING:
    from ml.participants import FaceObservation

SMOOTHING_WINDOW = 5
SMOOTHING_DESCRIPTION = f"centred moving average over {SMOOTHING_WINDOW} samples, broken at frames without a face"
MIN_SEGMENT_SAMPLES = 2  # a dominant emotion held for less is folded into its neighbour


def _probs_dict(vector: np.ndarray) -> Probs:
    return {name: round(float(p), 6) for name, p in zip(EMOTIONS, vector, strict=True)}


def _vector(frame: Frame) -> np.ndarray:
    assert frame.probs is not None
    return np.array([frame.probs[name] for name in EMOTIONS], np.float64)


def face_runs(frames: Sequence[Frame]) -> list[range]:
    """Index ranges of consecutive frames with a face."""
    runs, start = [], None
    for i, frame in enumerate(frames):
        if frame.face and start is None:
            start = i
        elif not frame.face and start is not None:
            runs.append(range(start, i))
            start = None
    if start is not None:
        runs.append(range(start, len(frames)))
    return runs


def smooth(frames: Sequence[Frame], window: int = SMOOTHING_WINDOW) -> list[np.ndarray | None]:
    """Smoothed probability vector per frame (None without a face); each row sums to 1."""
    smoothed: list[np.ndarray | None] = [None] * len(frames)
    half = window // 2
    for run in face_runs(frames):
        raw = np.stack([_vector(frames[i]) for i in run])
        for j, i in enumerate(run):
            smoothed[i] = raw[max(0, j - half) : j + half + 1].mean(axis=0)
    return smoothed


def segments(frames: Sequence[Frame], smoothed: Sequence[np.ndarray | None], period_s: float) -> list[Segment]:
    """Runs of one smoothed dominant emotion; never across a no-face gap."""
    result: list[Segment] = []
    for run in face_runs(frames):
        labels = [int(np.argmax(smoothed[i])) for i in run]  # type: ignore[arg-type]
        pieces: list[list[int]] = []
        for index, label in zip(run, labels, strict=True):
            if pieces and labels[pieces[-1][0] - run.start] == label:
                pieces[-1].append(index)
            else:
                pieces.append([index])
        merged: list[list[int]] = []
        merged_labels: list[int] = []  # the label of each merged run's long piece
        leading: list[int] = []  # short pieces before the first long one join it
        for piece in pieces:
            label = labels[piece[0] - run.start]
            if len(piece) >= MIN_SEGMENT_SAMPLES and merged_labels and merged_labels[-1] == label:
                merged[-1].extend(piece)  # a folded blip between two runs of one emotion
            elif len(piece) >= MIN_SEGMENT_SAMPLES:
                merged.append(leading + piece)
                merged_labels.append(label)
                leading = []
            elif merged:
                merged[-1].extend(piece)
            else:
                leading.extend(piece)
        if leading:
            merged.append(leading)
        for piece in merged:
            mean = np.mean([v for v in (smoothed[i] for i in piece) if v is not None], axis=0)
            result.append(
                Segment(
                    start=frames[piece[0]].t,
                    end=round(frames[piece[-1]].t + period_s, 3),
                    emotion=EMOTIONS[int(np.argmax(mean))],
                    frames=len(piece),
                    mean_probs=_probs_dict(mean),
                )
            )
    return result


def _mean_and_dominant(vectors: list[np.ndarray]) -> tuple[Probs | None, str | None]:
    if not vectors:
        return None, None
    mean = np.mean(vectors, axis=0)
    return _probs_dict(mean), EMOTIONS[int(np.argmax(mean))]


def per_minute(
    frames: Sequence[Frame], smoothed: Sequence[np.ndarray | None], start_s: float, end_s: float
) -> list[MinuteBin]:
    """One bin per wall-clock minute of the recording that the analysed range touches."""
    bins = []
    for minute in range(int(start_s // 60), int(np.ceil(end_s / 60)) or 1):
        low, high = max(start_s, minute * 60.0), min(end_s, (minute + 1) * 60.0)
        inside = [i for i, f in enumerate(frames) if low <= f.t < high]
        vectors = [v for v in (smoothed[i] for i in inside) if v is not None]
        mean, dominant = _mean_and_dominant(vectors)
        bins.append(
            MinuteBin(
                minute=minute,
                start=low,
                end=high,
                frames=len(inside),
                face_frames=len(vectors),
                face_visible_ratio=round(len(vectors) / len(inside), 4) if inside else 0.0,
                mean_probs=mean,
                dominant_emotion=dominant,
            )
        )
    return bins


def summarize(frames: Sequence[Frame], smoothed: Sequence[np.ndarray | None], start_s: float, end_s: float) -> Summary:
    vectors = [v for v in smoothed if v is not None]
    share = np.zeros(len(EMOTIONS))
    for vector in vectors:
        share[int(np.argmax(vector))] += 1
    if vectors:
        share /= len(vectors)
    mean, _ = _mean_and_dominant(vectors)
    return Summary(
        duration_s=round(end_s - start_s, 3),
        frames=len(frames),
        face_frames=len(vectors),
        face_visible_ratio=round(len(vectors) / len(frames), 4) if frames else 0.0,
        dominant_emotion=EMOTIONS[int(np.argmax(share))] if vectors else None,
        mean_probs=mean,
        time_share=_probs_dict(share),
    )


def align_transcript(
    cues: Sequence[Cue], frames: Sequence[Frame], smoothed: Sequence[np.ndarray | None], period_s: float
) -> list[TranscriptSegment]:
    """Each cue with the mean smoothed emotion of the face frames it spans. A cue shorter than the
    sampling period borrows the nearest sample within one period, so short utterances are not blank."""
    times = np.array([f.t for f in frames])
    aligned = []
    for cue in cues:
        inside = [int(i) for i in np.flatnonzero((times >= cue.start) & (times < cue.end))]
        if not inside and len(times):
            nearest = int(np.argmin(np.abs(times - (cue.start + cue.end) / 2)))
            if abs(times[nearest] - (cue.start + cue.end) / 2) <= period_s:
                inside = [nearest]
        vectors = [v for v in (smoothed[i] for i in inside) if v is not None]
        mean, dominant = _mean_and_dominant(vectors)
        aligned.append(
            TranscriptSegment(
                start=cue.start,
                end=cue.end,
                speaker=cue.speaker,
                text=cue.text,
                face_frames=len(vectors),
                mean_probs=mean,
                dominant_emotion=dominant,
            )
        )
    return aligned


def build_analysis(
    *,
    video: VideoInfo,
    settings: AnalysisSettings,
    frames: Sequence[Frame],
    transcript: Sequence[Cue] | None = None,
    observations: Sequence[FaceObservation] | None = None,
) -> Analysis:
    """The whole result from frames sorted by time (the worker's summary step calls this too).

    With ``observations`` (every face, ``--faces all``), the result also holds the participants,
    each frame's faces, and transcript segments read from their speaker's own face.
    """
    from ml.participants import build_participants

    ordered = sorted(frames, key=lambda f: f.t)
    smoothed = smooth(ordered)
    period_s = 1.0 / settings.sample_fps
    aligned = align_transcript(transcript, ordered, smoothed, period_s) if transcript is not None else None
    participants = None
    if observations is not None:
        found = build_participants(
            ordered,
            observations,
            period_s=period_s,
            start_s=settings.start_s,
            end_s=settings.end_s,
            cues=transcript,
        )
        ordered, participants, aligned = found.frames, found.participants, found.transcript
    return Analysis(
        video=video,
        analysis=settings,
        frames=list(ordered),
        segments=segments(ordered, smoothed, period_s),
        timeline=per_minute(ordered, smoothed, settings.start_s, settings.end_s),
        summary=summarize(ordered, smoothed, settings.start_s, settings.end_s),
        transcript=aligned,
        participants=participants,
    )
