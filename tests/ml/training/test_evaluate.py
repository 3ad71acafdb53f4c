"""`emotrace evaluate` beyond FER+: any <class>/<image> folder (with and without face detection),
and the robustness table under call-like degradations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ml import EMOTIONS
from ml.classifier import EmotionClassifier
from ml.training.data import load_split, majority_labels
from ml.training.degrade import CONDITIONS, degrade
from ml.training.evaluate import evaluate_degraded
from ml.training.folder_eval import class_of, evaluate_folder, read_folder

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    return EmotionClassifier.load()


def _emotrace(*args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter; modules named in ``without`` fail to import there."""
    entry = ["-m", "emotrace.cli"]
    if without:
        blocked = f"import sys; sys.modules.update(dict.fromkeys({without!r}))"
        entry = ["-c", f"{blocked}; from emotrace.cli import app; app()"]
    return subprocess.run([sys.executable, *entry, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory, ferplus_dir: Path) -> tuple[Path, np.ndarray, list]:
    """FER+ test faces of three classes, under the folder names other datasets use."""
    root = tmp_path_factory.mktemp("faces")
    test = load_split(ferplus_dir, "test")
    labels = majority_labels(test.votes)
    written: list[tuple[int, np.ndarray]] = []
    for folder, emotion in (("Happy", "happiness"), ("sad", "sadness"), ("3_angry", "anger")):
        (root / folder).mkdir()
        for n, i in enumerate(np.flatnonzero(labels == EMOTIONS.index(emotion))[:12]):
            cv2.imwrite(str(root / folder / f"face{n:02d}.png"), test.images[i])
            written.append((EMOTIONS.index(emotion), test.images[i]))
    truth = np.array([label for label, _ in written])
    return root, truth, [image for _, image in written]


def test_folder_names_map_to_ferplus_classes() -> None:
    assert [class_of(n) for n in ("happy", "Sad", "angry", "surprised", "fearful", "disgusted", "neutral")] == [
        "happiness",
        "sadness",
        "anger",
        "surprise",
        "fear",
        "disgust",
        "neutral",
    ]
    assert class_of("4_fear") == "fear"
    with pytest.raises(ValueError, match="not an emotion class"):
        class_of("hapy")


def test_folder_evaluation_scores_only_the_classes_present(
    classifier: EmotionClassifier, labelled_folder: tuple[Path, np.ndarray, list]
) -> None:
    root, truth, images = labelled_folder
    metrics = evaluate_folder(classifier, root)
    predicted = classifier.predict(images).argmax(axis=1)
    assert metrics["faces"] == len(truth) == 36
    assert metrics["accuracy"] == pytest.approx(float((predicted == truth).mean()), abs=1e-4)
    assert set(metrics["per_class"]) == {"happiness", "sadness", "anger"}
    confusion = metrics["confusion_matrix"]
    assert confusion["rows"] == ["happiness", "sadness", "anger"]
    assert confusion["columns"] == list(EMOTIONS)
    assert sum(map(sum, confusion["counts"])) == 36
    for row, emotion in zip(confusion["counts"], ("happiness", "sadness", "anger"), strict=True):
        label = EMOTIONS.index(emotion)
        assert row[label] == int(((predicted == label) & (truth == label)).sum())


def test_evaluate_command_on_a_folder_prints_the_report_and_json(
    labelled_folder: tuple[Path, np.ndarray, list], tmp_path: Path
) -> None:
    root, _, _ = labelled_folder
    out = tmp_path / "metrics.json"
    done = _emotrace("evaluate", "--data", str(root), "--json", str(out))
    assert done.returncode == 0, done.stderr
    metrics = json.loads(out.read_text())
    assert f"accuracy {metrics['accuracy']:.4f}" in done.stdout
    assert "confusion (rows: truth, columns: prediction)" in done.stdout
    assert "contempt" not in metrics["per_class"]


def test_evaluate_command_needs_no_tensorflow(labelled_folder: tuple[Path, np.ndarray, list], tmp_path: Path) -> None:
    """A serving install has no `train` extra: evaluating the shipped model must still work."""
    root, _, _ = labelled_folder
    done = _emotrace("evaluate", "--data", str(root), without=("tensorflow", "keras", "tf2onnx", "onnx"))
    assert done.returncode == 0, done.stderr
    assert "confusion (rows: truth, columns: prediction)" in done.stdout


def test_evaluate_command_refuses_an_unknown_class_folder(tmp_path: Path) -> None:
    (tmp_path / "hapy").mkdir()
    cv2.imwrite(str(tmp_path / "hapy" / "a.png"), np.zeros((48, 48), np.uint8))
    done = _emotrace("evaluate", "--data", str(tmp_path))
    assert done.returncode != 0
    assert "not an emotion class" in done.stderr


def _photo_and_wall(folder: Path, videos_dir: Path, suffix: str) -> np.ndarray:
    """Writes ``a_photo`` (a talking head's first frame) and ``b_wall`` (no face) into ``folder``;
    returns the photo."""
    folder.mkdir()
    with av.open(str(videos_dir / "retalking_face_1.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    cv2.imwrite(str(folder / f"a_photo{suffix}"), frame)
    cv2.imwrite(str(folder / f"b_wall{suffix}"), np.full((360, 480, 3), 128, np.uint8))
    return frame


def test_detect_finds_faces_in_full_photos_and_counts_a_faceless_photo_wrong(
    classifier: EmotionClassifier, videos_dir: Path, tmp_path: Path
) -> None:
    _photo_and_wall(tmp_path / "neutral", videos_dir, ".jpg")
    metrics = evaluate_folder(classifier, tmp_path, detect=True)
    assert metrics["faces"] == 2
    assert metrics["no_face"] == 1
    assert metrics["confusion_matrix"]["columns"][-1] == "no_face"
    assert metrics["confusion_matrix"]["counts"][0][-1] == 1
    assert metrics["accuracy"] in (0.0, 0.5)  # the faceless photo can never be right


def test_folder_reading_keeps_each_photos_crop_where_a_face_was_found(
    classifier: EmotionClassifier, videos_dir: Path, tmp_path: Path
) -> None:
    frame = _photo_and_wall(tmp_path / "happy", videos_dir, ".png")
    read = read_folder(classifier, tmp_path, detect=True, keep_crops=True)
    assert [p.name for p in read.paths] == ["a_photo.png", "b_wall.png"]
    assert read.crops is not None and read.crops[1] is None and read.predicted[1] == -1
    crop = read.crops[0]
    assert crop is not None and crop.base is None and 0 < crop.shape[0] < frame.shape[0]
    np.testing.assert_allclose(classifier.predict([crop])[0], read.probs[0], atol=1e-6)
    assert read_folder(classifier, tmp_path, detect=True).crops is None


def test_degradations_are_deterministic_and_change_the_face(ferplus_dir: Path) -> None:
    faces = load_split(ferplus_dir, "valid").images[:8]
    for name in CONDITIONS:
        first, again = degrade(faces, name, seed=3), degrade(faces, name, seed=3)
        assert first.shape == faces.shape and first.dtype == np.uint8, name
        np.testing.assert_array_equal(first, again)
        assert np.abs(first.astype(int) - faces.astype(int)).mean() > 1.0, name


def test_robustness_report_on_a_subset(classifier: EmotionClassifier, ferplus_dir: Path) -> None:
    report = evaluate_degraded(classifier, ferplus_dir, max_faces=200)
    assert report["faces"] == 200
    conditions = report["conditions"]
    assert set(conditions) == set(CONDITIONS)
    drops = [row["drop_points"] for row in conditions.values()]
    assert report["mean_drop_points"] == pytest.approx(float(np.mean(drops)), abs=0.01)
    for row in conditions.values():
        assert row["drop_points"] == pytest.approx(100 * (report["clean_accuracy"] - row["accuracy"]), abs=0.01)
