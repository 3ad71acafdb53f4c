"""Find the subject's face in a frame: detectors, the choice of one face, the crop.

One subject faces the camera. Of the faces a detector returns, the subject is the largest
plausible one, with a preference for the face that overlaps the subject's previous box (a passer-by
or a poster on the wall does not steal the track for a frame). That memory is reset at every
``CONTINUITY_WINDOW_MS`` of recording time, so it never crosses a chunk edge on that grid: chunks of
any multiple of 10 s give exactly the faces a whole-file pass gives.

Detection runs on a copy scaled to ``DETECT_LONG_SIDE`` pixels (Haar costs grow with area); the
crop is taken from the full-resolution frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

DETECT_LONG_SIDE = 320  # a call's face spans >= 15% of the frame: ample at 320 px, 6x cheaper than 480
CONTINUITY_WINDOW_MS = 10_000
MIN_FACE_FRACTION = 0.10  # of the shorter frame side: smaller "faces" are background noise
CROP_MARGIN = 0.10  # each side, as a fraction of the box: FER's tiles include brow and chin


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def iou(self, other: Box) -> float:
        x1, y1 = max(self.x, other.x), max(self.y, other.y)
        x2, y2 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0, x2 - x1) * max(0, y2 - y1)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes in ``image`` pixel coordinates (BGR image)."""
        ...


def _scaled(image: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(height, width))
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return image, scale


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: ships with OpenCV, so it works with nothing configured."""

    name = "haar"

    def __init__(self) -> None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade at {path}")

    def detect(self, image: np.ndarray) -> list[Box]:
        small, scale = _scaled(image)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        min_side = max(20, int(MIN_FACE_FRACTION * min(gray.shape)))
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5, minSize=(min_side, min_side))
        return [Box(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]


class YuNetDetector:
    """OpenCV's YuNet CNN detector: better on turned or dim faces; needs its ONNX file configured."""

    name = "yunet"

    def __init__(self, model: str | os.PathLike[str], *, score_threshold: float = 0.7) -> None:
        if not Path(model).is_file():
            raise FileNotFoundError(f"YuNet model not found: {model}")
        self._detector = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold, 0.3, 50)

    def detect(self, image: np.ndarray) -> list[Box]:
        small, scale = _scaled(image)
        self._detector.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self._detector.detect(small)
        if faces is None:
            return []
        min_side = MIN_FACE_FRACTION * min(small.shape[:2])
        return [
            Box(*(round(float(v) / scale) for v in face[:4])) for face in faces if min(face[2], face[3]) >= min_side
        ]


def make_detector(name: str = "haar", *, yunet_model: str | os.PathLike[str] | None = None) -> FaceDetector:
    if name == "haar":
        return HaarDetector()
    if name == "yunet":
        if yunet_model is None:
            raise ValueError("the yunet detector needs a model path (face_detection_yunet_2023mar.onnx)")
        return YuNetDetector(yunet_model)
    raise ValueError(f"unknown face detector {name!r}; choose haar or yunet")


class SubjectTracker:
    """Chooses the subject's face frame by frame; see the module docstring for the reset rule."""

    def __init__(self) -> None:
        self._previous: Box | None = None
        self._window = -1

    def pick(self, t_ms: int, boxes: list[Box]) -> Box | None:
        window = t_ms // CONTINUITY_WINDOW_MS
        if window != self._window:
            self._window, self._previous = window, None
        if not boxes:
            return None
        previous = self._previous
        chosen = max(boxes, key=lambda b: (b.w * b.h) * (1.0 + (b.iou(previous) if previous else 0.0)))
        self._previous = chosen
        return chosen


def crop_face(image: np.ndarray, box: Box) -> np.ndarray:
    """A square crop around ``box`` with a margin, clamped to the frame."""
    height, width = image.shape[:2]
    side = max(box.w, box.h) * (1 + 2 * CROP_MARGIN)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x1, y1 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x2, y2 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    return image[y1:y2, x1:x2]
