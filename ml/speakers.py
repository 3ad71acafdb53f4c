"""Which transcript speaker is which participant, from when each face is active while each speaker talks.

A participant's activity at a sample is 1 when it is the only face on screen (a speaker view
shows whoever talks) and, when several faces share the screen (a gallery), its mouth-region
motion relative to the most moving face there. A speaker matches the participant whose activity
is highest while that speaker talks compared with while they do not; the difference (0-1) is the
confidence. Pairs are taken best first, one participant per speaker; a speaker heard for fewer
than ``MIN_SPEECH_SAMPLES`` samples, or whose best match is below ``MIN_CONFIDENCE``, names
nobody: ``null`` rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ml.transcript import Cue

MIN_SPEECH_SAMPLES = 4
MIN_CONFIDENCE = 0.3


def talking(cues: Sequence[Cue], times: np.ndarray) -> dict[str, np.ndarray]:
    """Per named speaker, a mask of the samples during which they talk."""
    masks: dict[str, np.ndarray] = {}
    for cue in cues:
        if cue.speaker:
            mask = masks.setdefault(cue.speaker, np.zeros(len(times), bool))
            mask |= (times >= cue.start) & (times < cue.end)
    return masks


def match_speakers(
    activity: Mapping[str, np.ndarray], cues: Sequence[Cue], times: np.ndarray
) -> dict[str, tuple[str, float]]:
    """participant id -> (speaker, confidence) for the matches the evidence supports.

    ``activity[p]`` holds one value per sample in ``times``: 0-1, or NaN where unknown.
    """
    scores: list[tuple[float, str, str]] = []
    for speaker, mask in sorted(talking(cues, times).items()):
        for participant, values in sorted(activity.items()):
            known = ~np.isnan(values)
            during, outside = known & mask, known & ~mask
            if during.sum() < MIN_SPEECH_SAMPLES:
                continue
            rest = float(values[outside].mean()) if outside.any() else 0.0
            scores.append((float(values[during].mean()) - rest, speaker, participant))
    matched: dict[str, tuple[str, float]] = {}
    named: set[str] = set()
    for score, speaker, participant in sorted(scores, key=lambda s: (-s[0], s[1], s[2])):
        if score < MIN_CONFIDENCE:
            break
        if speaker in named or participant in matched:
            continue
        matched[participant] = (speaker, round(min(1.0, score), 3))
        named.add(speaker)
    return matched
