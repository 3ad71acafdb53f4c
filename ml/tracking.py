"""Every face of a sample, followed from sample to sample: the first half of ``--faces all``.

Detection resolution adapts to the faces present: the first sample of each continuity window
(``ml.faces.CONTINUITY_WINDOW_MS``) is searched at the detector's ``probe_long_side``, and the rest
of the window at the smallest scale that still makes its smallest face the detector's
``face_target_px`` tall (never below ``DETECT_LONG_SIDE``). YuNet finds a 3x3 gallery at 720p at
320 px already; Haar needs ~500 px for it (bench/detectors.py).

A track is one face followed through consecutive samples of one window: a box joins the track
whose last box it overlaps (IoU) if its colours still look alike, so a speaker view's cut from one
person to the next (same place, other face) starts a new track. Tracks never cross a window edge,
so chunks on that grid produce exactly the tracks a whole-file pass does; identity across cuts
and absences is the descriptors' job (``ml.identity``, ``ml.participants``).

Across a window edge a face usually just goes on: a track born just after the edge in the place
and colours of one that ended just before it *continues* that track (:func:`link_tracks`), and
needs no descriptor of its own (~0.06 CPU-s each, most of ``--faces all``'s cost when every track
was described anew every window). The test reads only what every observation near an edge
stores (time, box, colour histogram), so ``ml.participants`` repeats it over a chunked job's
stored faces and links exactly what a whole-file pass links. A chunk cannot see the window before
its first one, so there every track is described; the merge keeps only the descriptor of each
chain's first track, which is what the whole-file pass computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ml.faces import CONTINUITY_WINDOW_MS, DETECT_LONG_SIDE, Box, FaceDetector

PROBE_MAX_LONG_SIDE = 960  # adapted sizes stop here: smaller faces are too small to read anyway
ALL_MIN_FACE_FRACTION = 0.04  # of the shorter side: a 5x5 gallery's faces at 720p, not a poster's
MATCH_IOU = 0.3
MAX_GAP_SAMPLES = 2  # a face missed for one sample keeps its track
MAX_COLOUR_DISTANCE = 0.45  # Bhattacharyya distance of hue-saturation histograms; a cut is ~0.6+
DESCRIBE_AT = (0,)  # the samples (by count in its track) whose face gets a descriptor: ~0.06 CPU-s each
LINK_MAX_GAP_MS = 1000  # a track continues one across a window edge seen at most this long before it
COLOUR_DECIMALS = 4  # edge colours are stored and compared rounded: a job's database copy links the same
MOUTH_PATCH = (24, 12)


class WindowedDetection:
    """All faces of a frame at the resolution their sizes call for (see the module docstring)."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self._window = -1
        self._long_side = detector.probe_long_side

    def detect(self, t_ms: int, image: np.ndarray) -> list[Box]:
        window = t_ms // CONTINUITY_WINDOW_MS
        if window == self._window:
            found = self.detector.detect(image, long_side=self._long_side, min_fraction=ALL_MIN_FACE_FRACTION)
        else:
            self._window = window
            found = self.detector.detect(
                image, long_side=self.detector.probe_long_side, min_fraction=ALL_MIN_FACE_FRACTION
            )
            self._long_side = adapted_long_side(image.shape[:2], found, self.detector.face_target_px)
        return [box for box in (_clamped(b, image.shape) for b in found) if box is not None]


def _clamped(box: Box, shape: tuple[int, ...]) -> Box | None:
    """``box`` cut to the frame (a detector may reach past an edge); None if little is left."""
    x1, y1 = max(0, box.x), max(0, box.y)
    x2, y2 = min(shape[1], box.x + box.w), min(shape[0], box.y + box.h)
    if x2 - x1 < box.w // 2 or y2 - y1 < box.h // 2 or x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return Box(x1, y1, x2 - x1, y2 - y1)


def adapted_long_side(shape: tuple[int, ...], boxes: list[Box], face_target_px: int) -> int:
    """The detection long side that makes the smallest of ``boxes`` ``face_target_px`` tall."""
    long = max(shape[0], shape[1])
    if not boxes:
        return DETECT_LONG_SIDE
    smallest = min(min(b.w, b.h) for b in boxes)
    needed = int(np.ceil(long * face_target_px / max(smallest, 1)))
    return max(DETECT_LONG_SIDE, min(PROBE_MAX_LONG_SIDE, needed))


@dataclass(frozen=True)
class TrackedFace:
    box: Box
    track: str  # "<window>.<n>": unique in the recording, meaningful only within its window
    describe: bool  # this sample's face should get an identity descriptor
    motion: float | None  # mouth-region change since the track's previous sample; None at its start
    colours: tuple[float, ...] | None = None  # near a window edge: what links tracks across it


@dataclass(frozen=True)
class TrackEdge:
    """A track's first or last face next to a window edge: all :func:`link_tracks` reads."""

    key: str
    t_ms: int
    box: Box
    colours: tuple[float, ...]


def near_edge(t_ms: int) -> bool:
    """Whether a face at ``t_ms`` could be one end of a link (its colours are then kept)."""
    offset = t_ms % CONTINUITY_WINDOW_MS
    return offset < LINK_MAX_GAP_MS or offset >= CONTINUITY_WINDOW_MS - LINK_MAX_GAP_MS


def track_number(key: str) -> int:
    return int(key.split(".")[1])


def colours_alike(a: np.ndarray, b: np.ndarray) -> bool:
    """The one colour rule of a track, within a window and across its edge: a cut to another
    face in the same place changes the hue-saturation histogram more than this."""
    return bool(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) <= MAX_COLOUR_DISTANCE)


def continued(birth: TrackEdge, ends: Iterable[TrackEdge], taken: set[str]) -> TrackEdge | None:
    """The track of the previous window that ``birth`` (a track's first face) goes on from, if any:
    seen at most ``LINK_MAX_GAP_MS`` before it, overlapping its box and alike in colour, the
    largest overlap winning (then the earlier track); ``taken`` ends are already continued."""
    window = birth.t_ms // CONTINUITY_WINDOW_MS
    best: TrackEdge | None = None
    best_rank = (0.0, 0)
    for end in ends:
        if end.key in taken or end.t_ms // CONTINUITY_WINDOW_MS != window - 1:
            continue
        iou = birth.box.iou(end.box)
        if birth.t_ms - end.t_ms > LINK_MAX_GAP_MS or iou < MATCH_IOU:
            continue
        rank = (iou, -track_number(end.key))
        if best is not None and rank <= best_rank:
            continue
        if colours_alike(np.asarray(birth.colours, np.float32), np.asarray(end.colours, np.float32)):
            best, best_rank = end, rank
    return best


def link_tracks(births: Sequence[TrackEdge], ends: Sequence[TrackEdge]) -> dict[str, str]:
    """Track -> the track of the previous window it continues, deciding births in the order
    :class:`FaceTracks` meets them, so the result equals the links it made while tracking."""
    links: dict[str, str] = {}
    taken: set[str] = set()
    for birth in sorted(births, key=lambda e: (e.t_ms, track_number(e.key))):
        end = continued(birth, ends, taken)
        if end is not None:
            links[birth.key] = end.key
            taken.add(end.key)
    return links


@dataclass
class _Track:
    key: str
    box: Box
    sample: int
    colours: np.ndarray
    mouth: np.ndarray
    count: int = 1
    continues: bool = False  # goes on from a track of the previous window: its identity is that one's


def _edge_colours(colours: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), COLOUR_DECIMALS) for v in colours)


def _colours(image: np.ndarray, box: Box) -> np.ndarray:
    face = image[box.y : box.y + box.h, box.x : box.x + box.w]
    hsv = cv2.cvtColor(face, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def mouth_patch(image: np.ndarray, box: Box) -> np.ndarray:
    """The lower middle of the face, small, grey and contrast-normalised: what moves when a person
    talks, with lighting and face size taken out."""
    x1, x2 = box.x + box.w // 4, box.x + 3 * box.w // 4
    y1, y2 = box.y + round(box.h * 0.62), box.y + round(box.h * 0.95)
    region = image[y1 : max(y1 + 1, y2), x1 : max(x1 + 1, x2)]
    grey = cv2.cvtColor(cv2.resize(region, MOUTH_PATCH, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    patch = grey.astype(np.float32)
    return (patch - patch.mean()) / (patch.std() + 8.0)


class FaceTracks:
    """Assigns each detected face to a track of its continuity window, and asks for a descriptor
    where a new track does not continue one of the previous window (see the module docstring)."""

    def __init__(self) -> None:
        self._window = -1
        self._sample = 0
        self._next = 0
        self._tracks: list[_Track] = []
        self._ends: dict[str, TrackEdge] = {}  # this window's tracks, last face near its end
        self._previous_ends: list[TrackEdge] = []
        self._taken: set[str] = set()

    def assign(self, t_ms: int, image: np.ndarray, boxes: list[Box]) -> list[TrackedFace]:
        window = t_ms // CONTINUITY_WINDOW_MS
        if window != self._window:
            follows = window == self._window + 1
            self._previous_ends = list(self._ends.values()) if follows else []
            self._window, self._sample, self._next, self._tracks = window, 0, 0, []
            self._ends, self._taken = {}, set()
        self._sample += 1
        edge = near_edge(t_ms)
        live = [t for t in self._tracks if self._sample - t.sample <= MAX_GAP_SAMPLES]
        colours = [_colours(image, box) for box in boxes]
        pairs = sorted(
            ((box.iou(track.box), i, j) for i, box in enumerate(boxes) for j, track in enumerate(live)),
            reverse=True,
        )
        matched: dict[int, _Track] = {}
        taken: set[int] = set()
        for iou, i, j in pairs:
            if iou < MATCH_IOU:
                break
            if i in matched or j in taken:
                continue
            if colours_alike(colours[i], live[j].colours):
                matched[i] = live[j]
                taken.add(j)
        result = []
        for i, box in enumerate(boxes):
            mouth = mouth_patch(image, box)
            stored = _edge_colours(colours[i]) if edge else None
            track = matched.get(i)
            if track is None:
                track = _Track(f"{window}.{self._next}", box, self._sample, colours[i], mouth, count=0)
                self._next += 1
                self._tracks.append(track)
                motion = None
                if stored is not None:
                    end = continued(TrackEdge(track.key, t_ms, box, stored), self._previous_ends, self._taken)
                    if end is not None:
                        self._taken.add(end.key)
                        track.continues = True
            else:
                motion = float(np.mean(np.abs(mouth - track.mouth))) if track.sample == self._sample - 1 else None
            describe = not track.continues and track.count in DESCRIBE_AT
            if stored is not None:
                self._ends[track.key] = TrackEdge(track.key, t_ms, box, stored)
            track.box, track.sample, track.colours, track.mouth = box, self._sample, colours[i], mouth
            track.count += 1
            result.append(TrackedFace(box, track.key, describe, None if motion is None else round(motion, 4), stored))
        self._tracks = [t for t in self._tracks if self._sample - t.sample <= MAX_GAP_SAMPLES]
        return result
