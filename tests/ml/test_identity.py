"""The grouping and speaker rules on small hand-made evidence: what the call tests cannot isolate."""

from __future__ import annotations

import numpy as np

from ml.identity import TrackEvidence, group_tracks
from ml.speakers import MIN_SPEECH_SAMPLES, match_speakers
from ml.transcript import Cue


def _track(key: str, samples: range, face: float, room: float) -> TrackEvidence:
    descriptor = tuple([face] + [0.0] * 127)
    context = tuple([room, 1.0 - room] + [0.0] * 30)
    return TrackEvidence(key, set(samples), [descriptor], [context])


def test_tracks_of_one_person_join_and_two_faces_at_one_instant_never_do() -> None:
    tracks = {
        "0.0": _track("0.0", range(0, 5), 0.0, 1.0),
        "0.1": _track("0.1", range(0, 5), 0.0, 1.0),  # identical look, same instants: someone else
        "1.0": _track("1.0", range(10, 15), 0.1, 1.0),  # the first person again, later
        "1.1": _track("1.1", range(10, 15), 2.0, 0.0),  # a new face in a new room
    }
    groups = group_tracks(tracks)
    assert groups == [["0.0", "1.0"], ["0.1"], ["1.1"]]


def test_a_track_without_a_descriptor_is_its_own_group() -> None:
    tracks = {"0.0": _track("0.0", range(3), 0.0, 1.0), "0.1": TrackEvidence("0.1", {5, 6})}
    assert group_tracks(tracks) == [["0.0"], ["0.1"]]


def test_speakers_need_enough_speech_and_a_clear_match() -> None:
    times = np.arange(20) * 0.5
    on_screen = np.array([1.0] * 10 + [0.0] * 10)
    cues = [Cue(0.0, 5.0, "ann"), Cue(5.0, 10.0, "bob")]
    assert match_speakers({"p1": on_screen, "p2": 1 - on_screen}, cues, times) == {
        "p1": ("ann", 1.0),
        "p2": ("bob", 1.0),
    }
    brief = [Cue(0.0, 0.5 * (MIN_SPEECH_SAMPLES - 1), "ann")]
    assert match_speakers({"p1": on_screen}, brief, times) == {}
    flat = np.full(20, 0.5)
    assert match_speakers({"p1": flat}, cues, times) == {}  # equally active whoever talks: no name
