"""Links across window edges on hand-made frames and observations: the rule that lets a track go on
without a descriptor of its own, and the merge that must repeat it over a chunked job's faces."""

from __future__ import annotations

import numpy as np

from ml.faces import Box
from ml.participants import FaceObservation, chain_heads, track_participants
from ml.tracking import FaceTracks, TrackEdge, link_tracks

BOX = Box(100, 100, 120, 120)
PROBS = {"neutral": 1.0}


def _frame(colour: tuple[int, int, int]) -> np.ndarray:
    image = np.zeros((480, 640, 3), np.uint8)
    image[BOX.y : BOX.y + BOX.h, BOX.x : BOX.x + BOX.w] = colour
    image[BOX.y + 40 : BOX.y + 60, BOX.x + 20 : BOX.x + 100] = (255, 255, 255)  # some texture
    return image


def _histogram(colour: tuple[int, int, int]) -> tuple[float, ...]:
    """The stored edge colours of a face of ``colour``, as ``FaceTracks`` computes them."""
    tracked = FaceTracks().assign(9_500, _frame(colour), [BOX])
    assert tracked[0].colours is not None
    return tracked[0].colours


def test_a_face_that_goes_on_across_the_edge_is_not_described_again() -> None:
    tracks = FaceTracks()
    red, blue = _frame((0, 0, 200)), _frame((200, 0, 0))
    first = [tracks.assign(t, red, [BOX])[0] for t in (9_000, 9_500)]
    assert first[0].describe and first[0].colours is not None
    same = tracks.assign(10_000, red, [BOX])[0]
    assert same.track == "1.0" and not same.describe  # a new track, its identity carried over
    assert tracks.assign(10_500, red, [BOX])[0].colours is not None  # still within a second of the edge
    assert tracks.assign(15_000, red, [BOX])[0].colours is None  # mid-window: nothing stored
    tracks.assign(19_500, red, [BOX])
    cut = tracks.assign(20_000, blue, [BOX])[0]  # same place, another person: a cut at the edge
    assert cut.describe


def test_a_chunk_describes_its_first_window_whatever_came_before() -> None:
    tracks = FaceTracks()
    assert tracks.assign(10_000, _frame((0, 0, 200)), [BOX])[0].describe


def test_links_need_overlap_colour_and_a_short_gap_and_go_to_the_first_birth() -> None:
    red, blue = _histogram((0, 0, 200)), _histogram((200, 0, 0))
    end = TrackEdge("0.0", 9_500, BOX, red)
    assert link_tracks([TrackEdge("1.0", 10_000, BOX, red)], [end]) == {"1.0": "0.0"}
    assert link_tracks([TrackEdge("1.0", 10_000, BOX, blue)], [end]) == {}
    assert link_tracks([TrackEdge("1.0", 10_000, Box(400, 300, 120, 120), red)], [end]) == {}
    assert link_tracks([TrackEdge("1.0", 10_600, BOX, red)], [end]) == {}  # over a second apart
    assert link_tracks([TrackEdge("2.0", 20_000, BOX, red)], [TrackEdge("1.0", 10_000, BOX, red)]) == {}
    births = [TrackEdge("1.1", 10_500, BOX, red), TrackEdge("1.0", 10_000, Box(110, 100, 120, 120), red)]
    assert link_tracks(births, [end]) == {"1.0": "0.0"}  # the earlier birth wins, not the closer box


def _observed(t_ms: int, track: str, colours: tuple[float, ...] | None, face: float | None) -> FaceObservation:
    descriptor = None if face is None else tuple([face] + [0.0] * 127)
    context = None if face is None else tuple([1.0] + [0.0] * 31)
    return FaceObservation(t_ms, 0, track, BOX.as_tuple(), PROBS, descriptor, context, None, colours)


def test_the_merge_chains_tracks_and_reads_only_the_first_tracks_descriptor() -> None:
    red, blue = _histogram((0, 0, 200)), _histogram((200, 0, 0))
    whole = [
        _observed(9_500, "0.0", red, 0.0),
        _observed(10_000, "1.0", red, None),  # went on: not described by a whole-file pass
        _observed(19_500, "1.0", red, None),
        _observed(20_000, "2.0", blue, 5.0),  # a cut at the edge: someone else
        _observed(20_500, "2.0", blue, None),
    ]
    assert chain_heads(whole) == {"0.0": "0.0", "1.0": "0.0", "2.0": "2.0"}
    # A chunk starting at 10 s cannot see 9.5 s, so it describes its first track: ignored, or the
    # chain's face would move halfway to the next person's.
    chunked = [whole[0], _observed(10_000, "1.0", red, 9.0), *whole[2:]]
    assert track_participants(whole) == track_participants(chunked) == {"0.0": "p1", "1.0": "p1", "2.0": "p2"}
