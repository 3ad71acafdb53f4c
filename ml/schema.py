"""The analysis JSON: one schema shared by ``emotrace analyze``, the job API and the web page.

Documented in README ("Result schema"). Times are seconds (floats, millisecond precision) from
the start of the recording; every probability map holds all 8 emotions of :data:`ml.EMOTIONS`,
in that order, summing to 1. Adding optional fields is backwards compatible; renaming or
removing one is a new ``schema_version``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

Probs = dict[str, float]
"""Emotion name -> probability, all 8 emotions, in :data:`ml.EMOTIONS` order."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absent_unless_set(description: str) -> Any:
    """A field of ``--faces all`` results: left out of the JSON when unset, so a ``--faces subject``
    result stays byte for byte what it was before the mode existed."""
    return Field(None, description=description, exclude_if=lambda value: value is None)


class VideoInfo(_Model):
    duration_s: float = Field(ge=0, description="container duration, seconds")
    fps: float = Field(ge=0, description="average native frame rate of the video stream")
    width: int = Field(ge=0, description="display width after rotation metadata")
    height: int = Field(ge=0, description="display height after rotation metadata")
    rotation: int = Field(0, description="clockwise rotation applied from container metadata, degrees")
    codec: str | None = None


class Face(_Model):
    """One face of a sample, with the participant it belongs to (``--faces all``)."""

    participant: str = Field(description='participant id, "p1", "p2", ...')
    box: tuple[int, int, int, int] = Field(description="face box x, y, w, h in display pixels")
    probs: Probs = Field(description="raw classifier output")


class Frame(_Model):
    """One sampled instant. A frame without a face is kept (``face: false``), never dropped.
    ``face``/``box``/``probs`` are the main subject's (the largest face, continuing the previous)."""

    t: float = Field(ge=0, description="presentation time, seconds")
    face: bool
    box: tuple[int, int, int, int] | None = Field(None, description="face box x, y, w, h in display pixels")
    probs: Probs | None = Field(None, description="raw classifier output; null without a face")
    faces: list[Face] | None = _absent_unless_set("every face of this sample (--faces all only; [] without one)")


class Segment(_Model):
    """A run of frames whose smoothed dominant emotion stays the same; never spans a no-face gap."""

    start: float
    end: float
    emotion: str
    frames: int
    mean_probs: Probs


class MinuteBin(_Model):
    minute: int
    start: float
    end: float
    frames: int
    face_frames: int
    face_visible_ratio: float
    mean_probs: Probs | None
    dominant_emotion: str | None


class Summary(_Model):
    duration_s: float = Field(description="length of the analysed range, seconds")
    frames: int
    face_frames: int
    face_visible_ratio: float
    dominant_emotion: str | None = Field(description="largest time share; null when no face was seen")
    mean_probs: Probs | None = Field(description="mean smoothed probabilities over face frames")
    time_share: Probs = Field(description="share of face-visible time each emotion dominates (sums to 1, or all 0)")


class TranscriptSegment(_Model):
    start: float
    end: float
    speaker: str | None = None
    text: str | None = None
    face_frames: int
    mean_probs: Probs | None
    dominant_emotion: str | None
    participant: str | None = _absent_unless_set("the speaker's participant, whose face the emotions are from")


class AnalysisSettings(_Model):
    sample_fps: float
    start_s: float
    end_s: float
    detector: str
    smoothing: str
    model: str
    faces: str | None = _absent_unless_set('"all" when every face was followed (absent: the subject only)')


class Participant(_Model):
    """One person of the call, followed through the recording by face descriptor."""

    id: str = Field(description='"p1", "p2", ... in order of samples seen')
    frames: int = Field(description="samples in which this participant's face was seen")
    face_visible_ratio: float
    summary: Summary
    segments: list[Segment]
    timeline: list[MinuteBin]
    speaker: str | None = Field(description="the transcript speaker matched to this face; null if unsure")
    speaker_confidence: float | None = Field(description="0-1; null without a matched speaker")


class Analysis(_Model):
    schema_version: str = SCHEMA_VERSION
    video: VideoInfo
    analysis: AnalysisSettings
    frames: list[Frame]
    segments: list[Segment]
    timeline: list[MinuteBin]
    summary: Summary
    transcript: list[TranscriptSegment] | None = None
    participants: list[Participant] | None = _absent_unless_set("every person seen (--faces all only)")
