"""Every face of a sample, followed from sample to sample: the first half of ``--faces all``.

Detection resolution adapts to the faces present: the first sample of each continuity window
(``ml.faces.CONTINUITY_WINDOW_MS``) is searched at the detector's ``probe_long_side``, and the rest
of the window at the smallest scale that still makes its smallest face the detector's
``face_target_px`` tall (never below ``DETECT_LONG_SIDE``). YuNet finds a 3x3 gallery at 720p at
320 px already; Haar needs ~500 px for it (bench/detectors.py).

A track is one face followed through consecutive samples of one window: a box joins the track
whose last box it overlaps (IoU) if its colours still look alike, so a speaker view's cut from one
person to the next (same place, other face) starts a new track. Tracks never cross a window edge,
so chunks on that grid produce exactly the tracks a whole-file pass does; identity across
windows, cuts and absences is the descriptors' job (``ml.identity``, ``ml.participants``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.faces import CONTINUITY_WINDOW_MS, DETECT_LONG_SIDE, Box, FaceDetector

PROBE_MAX_LONG_SIDE = 960  # adapted sizes stop here: smaller faces are too small to read anyway
ALL_MIN_FACE_FRACTION = 0.04  # of the shorter side: a 5x5 gallery's faces at 720p, not a poster's
MATCH_IOU = 0.3
MAX_GAP_SAMPLES = 2  # a face missed for one sample keeps its track
MAX_COLOUR_DISTANCE = 0.45  # Bhattacharyya distance of hue-saturation histograms; a cut is ~0.6+
DESCRIBE_AT = (0,)  # the samples (by count in its track) whose face gets a descriptor: ~0.1 CPU-s each
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


@dataclass
class _Track:
    key: str
    box: Box
    sample: int
    colours: np.ndarray
    mouth: np.ndarray
    count: int = 1


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
    """Assigns each detected face to a track of its continuity window."""

    def __init__(self) -> None:
        self._window = -1
        self._sample = 0
        self._next = 0
        self._tracks: list[_Track] = []

    def assign(self, t_ms: int, image: np.ndarray, boxes: list[Box]) -> list[TrackedFace]:
        window = t_ms // CONTINUITY_WINDOW_MS
        if window != self._window:
            self._window, self._sample, self._next, self._tracks = window, 0, 0, []
        self._sample += 1
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
            distance = cv2.compareHist(colours[i], live[j].colours, cv2.HISTCMP_BHATTACHARYYA)
            if distance <= MAX_COLOUR_DISTANCE:
                matched[i] = live[j]
                taken.add(j)
        result = []
        for i, box in enumerate(boxes):
            mouth = mouth_patch(image, box)
            track = matched.get(i)
            if track is None:
                track = _Track(f"{window}.{self._next}", box, self._sample, colours[i], mouth, count=0)
                self._next += 1
                self._tracks.append(track)
                motion = None
            else:
                motion = float(np.mean(np.abs(mouth - track.mouth))) if track.sample == self._sample - 1 else None
            describe = track.count in DESCRIBE_AT
            track.box, track.sample, track.colours, track.mouth = box, self._sample, colours[i], mouth
            track.count += 1
            result.append(TrackedFace(box, track.key, describe, None if motion is None else round(motion, 4)))
        self._tracks = [t for t in self._tracks if self._sample - t.sample <= MAX_GAP_SAMPLES]
        return result
