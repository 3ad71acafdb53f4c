"""Face detectors on real frames, the choice of the subject's face, and the crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.faces import (
    CONTINUITY_WINDOW_MS,
    Box,
    HaarDetector,
    SubjectTracker,
    crop_face,
    detect_subject,
    make_detector,
)
from ml.video import iter_sampled_frames
from tests.ml.conftest import TALKING_HEADS


def _first_frames(path: Path, count: int) -> list[np.ndarray]:
    frames = []
    for frame in iter_sampled_frames(path, fps=2.0):
        frames.append(frame.image)
        if len(frames) == count:
            break
    return frames


def _inside(box: Box, image: np.ndarray) -> bool:
    height, width = image.shape[:2]
    return box.x >= 0 and box.y >= 0 and box.w > 0 and box.x + box.w <= width and box.y + box.h <= height


@pytest.fixture(scope="module")
def yunet_model(shared_dir: Path) -> Path:
    path = shared_dir / "weights" / "yunet" / "face_detection_yunet_2023mar.onnx"
    if not path.is_file():
        pytest.skip(f"no YuNet model at {path}")
    return path


@pytest.mark.parametrize("name", ["haar", "yunet", "haar+yunet"])
def test_detectors_find_the_talking_head(videos_dir: Path, name: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue("yunet_model") if "yunet" in name else None
    detector = make_detector(name, yunet_model=model)
    assert detector.name == name
    for clip in TALKING_HEADS:
        image = _first_frames(videos_dir / clip, 1)[0]
        boxes = detector.detect(image)
        assert boxes, (name, clip)
        largest = max(boxes, key=lambda b: b.w * b.h)
        assert _inside(largest, image)
        # A talking head's face spans a good part of the frame's shorter side.
        assert largest.h >= 0.15 * min(image.shape[:2]), (name, clip, largest)


def test_detectors_agree_on_where_the_face_is(videos_dir: Path, yunet_model: Path) -> None:
    image = _first_frames(videos_dir / "pyfeat_single_face.mp4", 1)[0]
    haar = max(make_detector("haar").detect(image), key=lambda b: b.w * b.h)
    yunet = max(make_detector("yunet", yunet_model=yunet_model).detect(image), key=lambda b: b.w * b.h)
    assert haar.iou(yunet) > 0.3


def test_haar_with_yunet_keeps_haars_faces_and_finds_the_tilted_head_haar_misses(videos_dir: Path) -> None:
    haar, both = make_detector("haar"), make_detector("haar+yunet")
    assert both.name == "haar+yunet"
    upright = _first_frames(videos_dir / "pyfeat_single_face.mp4", 1)[0]
    assert haar.detect(upright) and both.detect(upright) == haar.detect(upright)
    height, width = upright.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), 35, 1.0)
    tilted = cv2.warpAffine(upright, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    assert haar.detect(tilted) == []
    found = both.detect(tilted)
    assert found and found == make_detector("yunet").detect(tilted)
    assert max(found, key=lambda b: b.w * b.h).iou(max(haar.detect(upright), key=lambda b: b.w * b.h)) > 0.3


def test_no_face_in_an_empty_scene(videos_dir: Path) -> None:
    detector = make_detector("haar")
    both = make_detector("haar+yunet")
    for image in _first_frames(videos_dir / "pyfeat_no_face.mp4", 4):
        assert detector.detect(image) == [] and both.detect(image) == []
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("clip", ["retalking_face_2.mp4", "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"])
def test_tracking_fast_path_agrees_with_a_full_pass(videos_dir: Path, clip: str) -> None:
    detector = HaarDetector()
    tracker = SubjectTracker()
    for i, image in enumerate(_first_frames(videos_dir / clip, 10)):
        previous = tracker.expected(500 * i)
        box = detect_subject(detector, tracker, 500 * i, image)
        full = max(detector.detect(image), key=lambda b: b.w * b.h)
        assert box is not None and box.iou(full) > 0.5, (clip, i, box, full)
        if previous is not None:
            assert detector.detect_near(image, previous), (clip, i)  # found without a full pass


def test_detector_configuration_errors(tmp_path: Path) -> None:
    assert make_detector("yunet").name == "yunet"  # the shipped model, nothing to configure
    with pytest.raises(FileNotFoundError):
        make_detector("yunet", yunet_model=tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError):
        make_detector("haar+yunet", yunet_model=tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("mtcnn")


def test_subject_is_the_largest_face_unless_another_continues_the_track() -> None:
    subject, passer_by = Box(100, 100, 200, 200), Box(500, 100, 220, 220)
    tracker = SubjectTracker()
    assert tracker.pick(0, [subject]) == subject
    # Slightly larger but elsewhere: the overlapping face keeps the track.
    assert tracker.pick(500, [passer_by, Box(110, 105, 200, 200)]) == Box(110, 105, 200, 200)
    assert tracker.pick(1000, []) is None
    # Without a previous box (a new continuity window), size alone decides.
    fresh = SubjectTracker()
    assert fresh.pick(0, [Box(110, 105, 200, 200), passer_by]) == passer_by


def test_continuity_resets_on_the_window_grid() -> None:
    """Memory never crosses a multiple of the window, so chunks on that grid equal a whole pass."""
    subject, other = Box(100, 100, 200, 200), Box(500, 100, 220, 220)
    tracker = SubjectTracker()
    tracker.pick(CONTINUITY_WINDOW_MS - 500, [subject])
    assert tracker.expected(CONTINUITY_WINDOW_MS - 1) == subject
    assert tracker.expected(CONTINUITY_WINDOW_MS) is None
    assert tracker.pick(CONTINUITY_WINDOW_MS, [Box(100, 100, 210, 210), other]) == other


def test_crop_adds_a_margin_and_stays_in_the_frame() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    crop = crop_face(image, Box(200, 150, 100, 100))
    assert crop.shape[0] == crop.shape[1] and crop.shape[0] > 100
    corner = crop_face(image, Box(0, 0, 100, 120))
    assert 0 < corner.shape[0] <= 480 and 0 < corner.shape[1] <= 640
    assert corner.shape[0] >= 120
