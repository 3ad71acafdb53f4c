"""Find the subject's face in a frame: detectors, the choice of one face, the crop.

One subject faces the camera. Of the faces a detector returns, the subject is the largest
plausible one, with a preference for the face that overlaps the subject's previous box (a passer-by
or a poster on the wall does not steal the track for a frame). That memory is reset at every
``CONTINUITY_WINDOW_MS`` of recording time, so it never crosses a chunk edge: the service's chunks
are whole windows (its settings refuse any other length), and give exactly the faces a whole-file
pass gives.

Detection runs on a copy scaled to ``DETECT_LONG_SIDE`` pixels (Haar costs grow with area); the
crop is taken from the full-resolution frame. While the subject is tracked, the detector first
searches only a region around the previous box, scaled so the face is about ``TRACK_FACE_PX``
pixels and limited to face sizes near the previous one: a few times cheaper than a full-frame
pass, which runs only when that search finds nothing.
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
TRACK_FACE_PX = 48
TRACK_REGION = 2.0  # search region side, in previous-box sides
# Each side, as a fraction of the box: the crop frames the face as FER's tiles do, which is what the
# classifier learned from. Haar, its alt2 cascade and YuNet all put a box of 0.96-0.97 of the tile's
# side on FER2013Valid tiles (bench/framing.py), so a tile is about 1.04 boxes.
CROP_MARGIN = 0.02
YUNET_MODEL = Path(__file__).parent / "face_models" / "yunet" / "face_detection_yunet_2023mar.onnx"


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
    probe_long_side: int  # where ml.tracking first looks for every face of a frame
    face_target_px: int  # the smallest face's height that detection still finds reliably

    def detect(
        self, image: np.ndarray, *, long_side: int = DETECT_LONG_SIDE, min_fraction: float = MIN_FACE_FRACTION
    ) -> list[Box]:
        """Face boxes in ``image`` pixel coordinates (BGR image), searched on a copy scaled to
        ``long_side`` pixels, ignoring faces smaller than ``min_fraction`` of the shorter side."""
        ...


def _scaled(image: np.ndarray, long_side: int = DETECT_LONG_SIDE) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return image, scale


def _load_cascade(path: Path) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"cannot load the Haar cascade at {path}")
    return cascade


class HaarDetector:
    """OpenCV's frontal-face Haar cascade: ships with OpenCV, so it works with nothing configured."""

    name = "haar"
    # Every-face mode (ml.tracking): Haar's recall on small faces grows with resolution (a 4x4
    # gallery at 720p: 0.61 of the tiles at 320 px, 0.86 at 480, 0.91 at 800; bench/detectors.py).
    probe_long_side = 640
    face_target_px = 40

    def __init__(self) -> None:
        folder = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        self._cascade = _load_cascade(folder / "haarcascade_frontalface_default.xml")
        # The tracking fast path uses the "alt2" cascade: fewer weak classifiers per stage, about
        # 1.5x cheaper per call on a face-sized region, where the default's recall is not needed.
        self._near_cascade = _load_cascade(folder / "haarcascade_frontalface_alt2.xml")

    def detect(
        self, image: np.ndarray, *, long_side: int = DETECT_LONG_SIDE, min_fraction: float = MIN_FACE_FRACTION
    ) -> list[Box]:
        small, scale = _scaled(image, long_side)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        min_side = max(20, int(min_fraction * min(gray.shape)))
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5, minSize=(min_side, min_side))
        return [Box(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]

    def detect_near(self, image: np.ndarray, previous: Box) -> list[Box]:
        """Faces of about ``previous``'s size in a region around it (the tracking fast path)."""
        height, width = image.shape[:2]
        side = max(previous.w, previous.h)
        cx, cy = previous.x + previous.w / 2, previous.y + previous.h / 2
        x1, y1 = max(0, round(cx - side * TRACK_REGION / 2)), max(0, round(cy - side * TRACK_REGION / 2))
        x2, y2 = min(width, round(cx + side * TRACK_REGION / 2)), min(height, round(cy + side * TRACK_REGION / 2))
        if x2 - x1 < side or y2 - y1 < side:
            return []
        scale = TRACK_FACE_PX / side
        region = cv2.resize(
            image[y1:y2, x1:x2], (round((x2 - x1) * scale), round((y2 - y1) * scale)), interpolation=cv2.INTER_LINEAR
        )
        gray = cv2.equalizeHist(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY))
        low, high = round(TRACK_FACE_PX * 0.7), round(TRACK_FACE_PX * 1.4)
        found = self._near_cascade.detectMultiScale(
            gray, scaleFactor=1.2, minNeighbors=4, minSize=(low, low), maxSize=(high, high)
        )
        return [
            Box(round(x / scale) + x1, round(y / scale) + y1, round(w / scale), round(h / scale))
            for x, y, w, h in np.asarray(found).reshape(-1, 4)
        ]


class YuNetDetector:
    """OpenCV's YuNet CNN detector: better on turned, dim or small faces and cheaper than Haar per
    pass (bench/detectors.py). Its 227 KB ONNX file (MIT) ships in the package."""

    name = "yunet"
    # Its feature pyramid finds 15-px faces at 320 px, and more resolution finds no more of a
    # gallery's tiles (3x3 at 720p: 0.995 at 320 px, 0.90-0.97 at 400-800; bench/detectors.py).
    probe_long_side = DETECT_LONG_SIDE
    face_target_px = 16

    def __init__(self, model: str | os.PathLike[str] = YUNET_MODEL, *, score_threshold: float = 0.7) -> None:
        if not Path(model).is_file():
            raise FileNotFoundError(f"YuNet model not found: {model}")
        self._detector = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold, 0.3, 50)

    def detect(
        self, image: np.ndarray, *, long_side: int = DETECT_LONG_SIDE, min_fraction: float = MIN_FACE_FRACTION
    ) -> list[Box]:
        small, scale = _scaled(image, long_side)
        self._detector.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self._detector.detect(small)
        if faces is None:
            return []
        min_side = min_fraction * min(small.shape[:2])
        return [
            Box(*(round(float(v) / scale) for v in face[:4])) for face in faces if min(face[2], face[3]) >= min_side
        ]


class HaarYuNetDetector(HaarDetector):
    """Haar, and YuNet on a frame where Haar finds no face: Haar's output wherever it finds one,
    and the tilted, dim or small faces it misses found too (bench/detectors.py: recall 0.973 to
    1.000 on the shared clips at about Haar's cost; bench/alignment.py: FER tiles tilted 20 degrees
    found 0.66-0.70 of the time instead of 0.24-0.30, and read as accurately as Haar's finds)."""

    name = "haar+yunet"

    def __init__(self, yunet_model: str | os.PathLike[str] = YUNET_MODEL) -> None:
        super().__init__()
        self._fallback = YuNetDetector(yunet_model)

    def detect(
        self, image: np.ndarray, *, long_side: int = DETECT_LONG_SIDE, min_fraction: float = MIN_FACE_FRACTION
    ) -> list[Box]:
        found = super().detect(image, long_side=long_side, min_fraction=min_fraction)
        return found or self._fallback.detect(image, long_side=long_side, min_fraction=min_fraction)


DETECTORS = ("haar", "yunet", "haar+yunet")


def make_detector(name: str = "haar", *, yunet_model: str | os.PathLike[str] | None = None) -> FaceDetector:
    """``yunet_model`` replaces the shipped YuNet file (e.g. a newer release of the model)."""
    if name == "haar":
        return HaarDetector()
    if name == "yunet":
        return YuNetDetector(yunet_model or YUNET_MODEL)
    if name == "haar+yunet":
        return HaarYuNetDetector(yunet_model or YUNET_MODEL)
    raise ValueError(f"unknown face detector {name!r}; choose {', '.join(DETECTORS)}")


class SubjectTracker:
    """Chooses the subject's face frame by frame; see the module docstring for the reset rule."""

    def __init__(self) -> None:
        self._previous: Box | None = None
        self._window = -1

    def expected(self, t_ms: int) -> Box | None:
        """The subject's last box, if it is still in this continuity window."""
        window = t_ms // CONTINUITY_WINDOW_MS
        if window != self._window:
            self._window, self._previous = window, None
        return self._previous

    def pick(self, t_ms: int, boxes: list[Box]) -> Box | None:
        self.expected(t_ms)
        if not boxes:
            return None
        previous = self._previous
        chosen = max(boxes, key=lambda b: (b.w * b.h) * (1.0 + (b.iou(previous) if previous else 0.0)))
        self._previous = chosen
        return chosen


def detect_subject(detector: FaceDetector, tracker: SubjectTracker, t_ms: int, image: np.ndarray) -> Box | None:
    """The subject's box in this frame: the tracking fast path first, a full-frame pass if needed.

    Depends only on the frames since the last continuity-window edge, like the tracker itself.
    """
    previous = tracker.expected(t_ms)
    near = getattr(detector, "detect_near", None)
    boxes = near(image, previous) if previous is not None and near is not None else []
    return tracker.pick(t_ms, boxes or detector.detect(image))


def crop_face(image: np.ndarray, box: Box) -> np.ndarray:
    """A square crop around ``box`` with a margin, clamped to the frame."""
    height, width = image.shape[:2]
    side = max(box.w, box.h) * (1 + 2 * CROP_MARGIN)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x1, y1 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x2, y2 = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    return image[y1:y2, x1:x2]
