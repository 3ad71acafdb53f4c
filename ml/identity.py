"""Who is who: a 128-d face descriptor per track, and tracks grouped into participants by it.

The descriptor is dlib's ResNet face-recognition model (weights from the ``face-recognition-models``
package, nothing downloaded), on a face aligned by dlib's 5-point landmarks. Measured on the shared
clips: the same person's faces lie 0.3-0.46 apart, different people's 0.5 and more (the model's
authors use 0.6); a track joins a participant when its descriptors average less than
``SAME_PERSON_DISTANCE`` from that participant's. It costs ~60 ms a face on one core, so only a few
samples of each track are described (``ml.tracking.DESCRIBE_AT``), never every face of every sample.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.faces import Box

SAME_PERSON_DISTANCE = 0.5
DESCRIPTOR_DECIMALS = 5  # stored and compared rounded, so a job's database copy gives equal results

_models: tuple[object, object] | None = None
_models_lock = threading.Lock()


def _load() -> tuple[object, object]:
    global _models
    with _models_lock:
        if _models is None:
            import dlib
            import face_recognition_models

            _models = (
                dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location()),
                dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
            )
        return _models


class FaceDescriber:
    """Descriptors of faces in one frame; the models load once per process."""

    def __init__(self) -> None:
        self._landmarks, self._network = _load()

    def describe(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[tuple[float, ...]]:
        """One descriptor per box of ``rgb`` (an RGB uint8 frame)."""
        import dlib

        result = []
        for box in boxes:
            rect = dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
            shape = self._landmarks(rgb, rect)  # type: ignore[operator]
            vector = np.asarray(self._network.compute_face_descriptor(rgb, shape))  # type: ignore[attr-defined]
            result.append(tuple(round(float(v), DESCRIPTOR_DECIMALS) for v in vector))
        return result


@dataclass
class TrackEvidence:
    """What clustering needs of one track: when it was seen and what its face looks like."""

    key: str
    samples: set[int] = field(default_factory=set)  # t_ms
    descriptors: list[tuple[float, ...]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return min(self.samples)

    def mean(self) -> np.ndarray | None:
        return np.mean(np.asarray(self.descriptors), axis=0) if self.descriptors else None


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
    means: list[list[np.ndarray]] = []
    for key in sorted(tracks, key=lambda k: (tracks[k].first, _track_order(k))):
        track = tracks[key]
        mean = track.mean()
        best, best_distance = None, SAME_PERSON_DISTANCE
        if mean is not None:
            for g, members in enumerate(means):
                if not members or seen[g] & track.samples:
                    continue
                distance = float(np.mean([np.linalg.norm(mean - other) for other in members]))
                if distance < best_distance:
                    best, best_distance = g, distance
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
