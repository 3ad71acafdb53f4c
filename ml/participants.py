"""From every face of every sample to participants: identity, one emotion timeline each, speakers.

Input is the flat list of :class:`FaceObservation` that ``--faces all`` produces, whether straight
from the pipeline (``emotrace analyze``) or read back from the job database after chunks ran
apart: tracks are chunk-local (``ml.tracking``), and this step first chains the tracks that go on
across window edges (``ml.tracking.link_tracks``, from the colours stored near each edge), then
groups the chains into people (``ml.identity``) by the descriptor of each chain's first track,
the one a whole-file pass describes; so a chunked job and a whole-file pass give the same
participants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.aggregate import align_transcript, per_minute, segments, smooth, summarize
from ml.faces import Box
from ml.identity import TrackEvidence, group_tracks
from ml.schema import Face, Frame, Participant, Probs, TranscriptSegment
from ml.speakers import match_speakers
from ml.tracking import TrackEdge, link_tracks, track_number
from ml.transcript import Cue

MIN_PARTICIPANT_SAMPLES = 2  # a face seen once and never again is a false detection, not a person


@dataclass(frozen=True)
class FaceObservation:
    """One face of one sample, as the pipeline saw it (the job database stores exactly this)."""

    t_ms: int
    index: int  # position among the sample's faces
    track: str  # chunk-local track key (ml.tracking)
    box: tuple[int, int, int, int]
    probs: Probs
    descriptor: tuple[float, ...] | None  # on the few samples of its track that were described
    context: tuple[float, ...] | None  # the surroundings' histogram, with the descriptor
    motion: float | None  # mouth-region change since the track's previous sample
    colours: tuple[float, ...] | None = None  # near a window edge (ml.tracking): links tracks across it


@dataclass(frozen=True)
class Participants:
    frames: list[Frame]  # the input frames, each with its ``faces``
    participants: list[Participant]
    transcript: list[TranscriptSegment] | None


def track_participants(observations: Sequence[FaceObservation]) -> dict[str, str]:
    """Track key -> participant id ("p1" most seen); tracks of dropped detections are absent."""
    heads = chain_heads(observations)
    chains: dict[str, TrackEvidence] = {}
    for item in observations:
        head = heads[item.track]
        chain = chains.setdefault(head, TrackEvidence(head))
        chain.samples.add(item.t_ms)
        if item.track == head and item.descriptor is not None and item.context is not None:
            chain.descriptors.append(item.descriptor)
            chain.contexts.append(item.context)
    groups = [g for g in group_tracks(chains) if sum(len(chains[k].samples) for k in g) >= MIN_PARTICIPANT_SAMPLES]
    groups.sort(key=lambda g: (-sum(len(chains[k].samples) for k in g), min(chains[k].first for k in g)))
    owner = {head: f"p{n + 1}" for n, group in enumerate(groups) for head in group}
    return {track: owner[head] for track, head in heads.items() if head in owner}


def chain_heads(observations: Sequence[FaceObservation]) -> dict[str, str]:
    """Track key -> the first track of the chain it belongs to (tracks linked across window
    edges by ``ml.tracking.link_tracks``; a track linked to nothing heads its own chain)."""
    first: dict[str, FaceObservation] = {}
    last: dict[str, FaceObservation] = {}
    for item in observations:
        if item.track not in first or item.t_ms < first[item.track].t_ms:
            first[item.track] = item
        if item.track not in last or item.t_ms > last[item.track].t_ms:
            last[item.track] = item

    def edges(ends: dict[str, FaceObservation]) -> list[TrackEdge]:
        return [TrackEdge(key, o.t_ms, Box(*o.box), o.colours) for key, o in ends.items() if o.colours is not None]

    links = link_tracks(edges(first), edges(last))
    heads: dict[str, str] = {}
    for key in sorted(first, key=lambda k: (first[k].t_ms, track_number(k))):
        heads[key] = heads[links[key]] if key in links else key
    return heads


def _activity(
    ids: Sequence[str], times_ms: Sequence[int], faces: dict[int, list[tuple[str, float | None]]]
) -> dict[str, np.ndarray]:
    """Per participant and sample, how much it looks like the one talking (see ``ml.speakers``)."""
    activity = {pid: np.zeros(len(times_ms)) for pid in ids}
    for i, t_ms in enumerate(times_ms):
        present = faces.get(t_ms, [])
        if len(present) == 1:
            activity[present[0][0]][i] = 1.0
            continue
        motions = [m for _, m in present if m is not None]
        top = max(motions, default=0.0)
        for pid, motion in present:
            activity[pid][i] = motion / top if motion is not None and top > 0 else np.nan
    return activity


def build_participants(
    frames: Sequence[Frame],
    observations: Sequence[FaceObservation],
    *,
    period_s: float,
    start_s: float,
    end_s: float,
    cues: Sequence[Cue] | None,
) -> Participants:
    """Participants over ``frames`` (sorted, the subject's), with speakers when ``cues`` name them."""
    owner = track_participants(observations)
    by_time: dict[int, list[FaceObservation]] = defaultdict(list)
    for item in observations:
        if item.track in owner:
            by_time[item.t_ms].append(item)
    times_ms = [round(frame.t * 1000) for frame in frames]
    with_faces = [
        frame.model_copy(
            update={
                "faces": [
                    Face(participant=owner[o.track], box=o.box, probs=o.probs)
                    for o in sorted(by_time.get(t_ms, []), key=lambda o: o.index)
                ]
            }
        )
        for frame, t_ms in zip(frames, times_ms, strict=True)
    ]
    ids = sorted(set(owner.values()), key=lambda pid: int(pid[1:]))
    own_frames: dict[str, list[Frame]] = {}
    for pid in ids:
        seen = {o.t_ms: o for items in by_time.values() for o in items if owner[o.track] == pid}
        own_frames[pid] = [
            Frame(t=frame.t, face=True, box=seen[t_ms].box, probs=seen[t_ms].probs)
            if t_ms in seen
            else Frame(t=frame.t, face=False)
            for frame, t_ms in zip(frames, times_ms, strict=True)
        ]
    speakers: dict[str, tuple[str, float]] = {}
    if cues:
        present = {t_ms: [(owner[o.track], o.motion) for o in items] for t_ms, items in by_time.items()}
        speakers = match_speakers(_activity(ids, times_ms, present), cues, np.array([f.t for f in frames]))
    participants = []
    smoothed_of = {pid: smooth(own_frames[pid]) for pid in ids}
    for pid in ids:
        own, smoothed = own_frames[pid], smoothed_of[pid]
        summary = summarize(own, smoothed, start_s, end_s)
        speaker = speakers.get(pid)
        participants.append(
            Participant(
                id=pid,
                frames=summary.face_frames,
                face_visible_ratio=summary.face_visible_ratio,
                summary=summary,
                segments=segments(own, smoothed, period_s),
                timeline=per_minute(own, smoothed, start_s, end_s),
                speaker=speaker[0] if speaker else None,
                speaker_confidence=speaker[1] if speaker else None,
            )
        )
    transcript = None
    if cues is not None:
        transcript = align_transcript(cues, frames, smooth(frames), period_s)
        by_speaker = {name: pid for pid, (name, _) in speakers.items()}
        for i, cue in enumerate(cues):
            mapped = by_speaker.get(cue.speaker or "")
            if mapped is not None:
                aligned = align_transcript([cue], own_frames[mapped], smoothed_of[mapped], period_s)[0]
                transcript[i] = aligned.model_copy(update={"participant": mapped})
    return Participants(with_faces, participants, transcript)
