"""Who is who: descriptors per track, and tracks grouped into participants by them.

Two descriptors of a face: dlib's ResNet face-recognition model (128-d, weights from the
``face-recognition-models`` package, nothing downloaded) on a face aligned by dlib's 5-point
landmarks, and the colours of the camera's view around the face (each participant of a call sits
in their own room). Measured on calls built from the shared clips, the face descriptor alone does
not separate everyone: the same person's tracks lie up to 0.53 apart, two different men 0.42.
The surroundings do (same camera <= 0.13 Bhattacharyya, different >= 0.24), and their sum keeps
a margin: same person <= 0.62, different people >= 1.0; ``SAME_PERSON_DISTANCE`` sits between.
The face model costs ~60 ms a face on an idle core, so only the first sample of a track is
described (``ml.tracking.DESCRIBE_AT``), and not even that where the track continues one of the
previous window (``ml.tracking.link_tracks``): never every face of every sample.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.faces import Box

SAME_PERSON_DISTANCE = 0.8  # face descriptor distance + surroundings distance
DESCRIPTOR_DECIMALS = 5  # stored and compared rounded, so a job's database copy gives equal results

_models: tuple[object, object] | None = None
_models_lock = threading.Lock()


def _load() -> tuple[object, object]:
    global _models
    with _models_lock:
        if _models is None:
            import dlib

            models = dlib_model_dir()
            _models = (
                dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
                dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
            )
        return _models


def dlib_model_dir() -> Path:
    """The model files of the ``face-recognition-models`` package, found without importing it:
    its ``__init__`` needs ``pkg_resources``, which Python 3.12+ environments no longer carry."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("face-recognition-models is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class FaceDescriber:
    """Descriptors of faces in one frame; the models load once per process."""

    def __init__(self) -> None:
        self._landmarks, self._network = _load()

    def describe(self, image: np.ndarray, boxes: Sequence[Box]) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
        """(face descriptor, surroundings histogram) per box of ``image`` (a BGR uint8 frame)."""
        import dlib

        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        result = []
        for box in boxes:
            rect = dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
            shape = self._landmarks(rgb, rect)  # type: ignore[operator]
            vector = np.asarray(self._network.compute_face_descriptor(rgb, shape))  # type: ignore[attr-defined]
            result.append((_rounded(vector), _rounded(surroundings(image, box))))
        return result


def _rounded(vector: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), DESCRIPTOR_DECIMALS) for v in vector)


def surroundings(image: np.ndarray, box: Box) -> np.ndarray:
    """Hue-saturation histogram of the view around a face: hair, clothes, the room behind."""
    height, width = image.shape[:2]
    x1, y1 = max(0, box.x - box.w), max(0, box.y - box.h // 2)
    x2, y2 = min(width, box.x + 2 * box.w), min(height, box.y + 2 * box.h)
    hsv = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [8, 4], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


@dataclass
class TrackEvidence:
    """What clustering needs of one track: when it was seen and what its face looks like."""

    key: str
    samples: set[int] = field(default_factory=set)  # t_ms
    descriptors: list[tuple[float, ...]] = field(default_factory=list)
    contexts: list[tuple[float, ...]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return min(self.samples)

    def mean(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.descriptors:
            return None
        return np.mean(np.asarray(self.descriptors), axis=0), np.mean(np.asarray(self.contexts, np.float32), axis=0)


def distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Face descriptor distance plus surroundings distance (see the module docstring)."""
    return float(np.linalg.norm(a[0] - b[0])) + float(cv2.compareHist(a[1], b[1], cv2.HISTCMP_BHATTACHARYYA))


def _track_order(key: str) -> tuple[int, int]:
    window, number = key.split(".")
    return int(window), int(number)


def group_tracks(tracks: Mapping[str, TrackEvidence]) -> list[list[str]]:
    """Tracks grouped by person, each group in time order.

    Tracks are taken in time order; each joins the group whose tracks' descriptors are nearest on
    average, if nearer than ``SAME_PERSON_DISTANCE`` and if no track of that group was seen in
    the same sample (two faces at one instant are two people). A deterministic function of its
    input, so the whole-file pass and a chunked job group the same tracks the same way.
    """
    groups: list[list[str]] = []
    seen: list[set[int]] = []
    means: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for key in sorted(tracks, key=lambda k: (tracks[k].first, _track_order(k))):
        track = tracks[key]
        mean = track.mean()
        best, best_distance = None, SAME_PERSON_DISTANCE
        if mean is not None:
            for g, members in enumerate(means):
                if not members or seen[g] & track.samples:
                    continue
                apart = float(np.mean([distance(mean, other) for other in members]))
                if apart < best_distance:
                    best, best_distance = g, apart
        if best is None:
            groups.append([key])
            seen.append(set(track.samples))
            means.append([mean] if mean is not None else [])
        else:
            groups[best].append(key)
            seen[best] |= track.samples
            if mean is not None:
                means[best].append(mean)
    return groups
