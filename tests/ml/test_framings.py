"""Test-time framings: the batched zoom equals a per-face crop or mirrored border, readings
average as a normalised geometric mean, and the classifier reads each network at the zooms its
metadata names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path
from ml.framings import average_readings, parse_framings, reframe


def _faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48, 1)).astype(np.float32)


@pytest.mark.parametrize("count", [1, 5])
def test_zoom_in_is_the_centred_crop_upsampled_and_zoom_out_the_mirrored_border_downsampled(count: int) -> None:
    faces = _faces(count)
    tighter, looser = reframe(faces, 0.92), reframe(faces, 1.08)
    assert tighter.shape == looser.shape == faces.shape and tighter.dtype == np.float32
    for i in (0, count - 1):
        face = faces[i, :, :, 0]
        crop = cv2.resize(face[2:46, 2:46], (48, 48), interpolation=cv2.INTER_LINEAR)  # 44 px, centred
        np.testing.assert_allclose(tighter[i, :, :, 0], crop, atol=1e-4)
        border = cv2.copyMakeBorder(face, 2, 2, 2, 2, cv2.BORDER_REFLECT)  # 52 px
        np.testing.assert_allclose(
            looser[i, :, :, 0], cv2.resize(border, (48, 48), interpolation=cv2.INTER_AREA), atol=1e-4
        )
    assert reframe(faces, 1.0) is faces
    assert not np.allclose(tighter, faces) and not np.allclose(looser, faces)


def test_readings_average_as_a_normalised_geometric_mean() -> None:
    a = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    b = np.array([[0.4, 0.5, 0.1], [0.3, 0.3, 0.4]], np.float32)
    mean = average_readings([a, b])
    expected = np.sqrt(a * b)
    np.testing.assert_allclose(mean, expected / expected.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(average_readings([a]), a)


def test_framings_in_metadata_are_checked() -> None:
    assert parse_framings(None) == (1.0,)
    assert parse_framings([0.92, 1, 1.08]) == (0.92, 1.0, 1.08)
    for bad in ([], "1.0", [0.1, 1.0], [1.0, 3.0]):
        with pytest.raises(ValueError, match="framings"):
            parse_framings(bad)


def test_classifier_reads_each_face_at_its_framings_and_averages(ferplus_dir: Path) -> None:
    crops = _valid_crops(ferplus_dir, 40)
    singles = [EmotionClassifier.load(routed=False, framings=(z,)).predict(crops) for z in (0.92, 1.0, 1.08)]
    together = EmotionClassifier.load(routed=False, framings=(0.92, 1.0, 1.08)).predict(crops)
    np.testing.assert_allclose(together, average_readings(singles), atol=1e-5)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(singles[0], singles[1], atol=1e-3)  # the zoom changes what the network reads
    as_trained = EmotionClassifier.load(routed=False, framings=(1.0,))
    np.testing.assert_allclose(as_trained.predict(crops), singles[1], atol=1e-6)


def test_each_network_of_a_pair_reads_at_the_framings_its_own_metadata_names(tmp_path: Path, ferplus_dir: Path) -> None:
    for name in ("emotion.onnx", "emotion_calls.onnx"):
        shutil.copyfile(DEFAULT_MODEL.parent / name, tmp_path / name)
        shutil.copyfile(metadata_path(DEFAULT_MODEL.parent / name), metadata_path(tmp_path / name))
    for name, framings in (("emotion.onnx", [0.92, 1.0, 1.08]), ("emotion_calls.onnx", [1.0, 1.04])):
        meta = json.loads(metadata_path(tmp_path / name).read_text())
        meta["framings"] = framings
        metadata_path(tmp_path / name).write_text(json.dumps(meta))
    pair = EmotionClassifier.load(tmp_path / "emotion.onnx")
    assert (pair.framings, pair.calls_framings) == ((0.92, 1.0, 1.08), (1.0, 1.04))
    alone = EmotionClassifier.load(tmp_path / "emotion.onnx", routed=False)
    assert alone.framings == (0.92, 1.0, 1.08)
    forced = EmotionClassifier.load(tmp_path / "emotion.onnx", framings=(1.0,))
    assert (forced.framings, forced.calls_framings) == ((1.0,), (1.0,))
    # Read differently, the same files give other results: the name an analysis records says so.
    assert pair.name == forced.name + "~zooms0.92,1,1.08+1,1.04"
    assert alone.name.endswith("~zooms0.92,1,1.08") and "+" not in alone.name
    assert "~" not in EmotionClassifier.load().name  # the shipped pair reads each face once
    noisy = [f[:, :, 0].astype(np.uint8) for f in _faces(8, seed=3)]
    faces = _valid_crops(ferplus_dir, 24) + noisy
    degraded = pair.degraded(faces)
    assert degraded.any() and not degraded.all()  # both networks read some of these faces
    probs = pair.predict(faces)
    clean_part = EmotionClassifier.load(tmp_path / "emotion.onnx", routed=False).predict(faces)
    calls_part = EmotionClassifier.load(tmp_path / "emotion_calls.onnx").predict(faces)
    np.testing.assert_allclose(probs, np.where(degraded[:, None], calls_part, clean_part), atol=1e-5)


def _valid_crops(ferplus_dir: Path, count: int) -> list[np.ndarray]:
    paths = sorted((ferplus_dir / "images" / "FER2013Valid").glob("*.png"))[:count]
    return [np.asarray(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) for p in paths]


def test_the_fit_scores_every_pair_of_candidates_and_prefers_the_cheaper_on_a_tie() -> None:
    from ml.training.framings import CANDIDATES, MIN_GAIN, best_of, score_candidates

    labels = np.array([0, 1, 2, 3])
    one_hot = np.eye(8, dtype=np.float32)[labels] * 0.9 + 0.1 / 8

    def reading(right: bool) -> np.ndarray:
        return one_hot if right else np.roll(one_hot, 1, axis=1)

    zooms = sorted({z for c in CANDIDATES for z in c})
    # The clean network is right at every zoom; the call network only when read at 0.92-1.08,
    # which only the widest candidate includes, and only on "blur" faces, which the gate sends it.
    readings = {
        "clean": {c: {z: reading(True) for z in zooms} for c in ("clean", "blur")},
        "calls": {c: {z: reading(z in (0.92, 1.08)) for z in zooms} for c in ("clean", "blur")},
    }
    to_calls = {"clean": np.zeros(4, bool), "blur": np.ones(4, bool)}
    scored = score_candidates(labels, readings, to_calls)
    assert len(scored) == len(CANDIDATES) ** 2
    best = best_of(scored)
    assert best[2] == (1.0,) and best[3] == (0.92, 1.0, 1.08)  # clean: any is right, the cheapest wins
    assert best[4] == {"clean": 1.0, "blur": 1.0}
    worst = min(scored, key=lambda row: row[0])
    assert worst[3] == (1.0,) and worst[4]["blur"] == 0.0
    # A gain under MIN_GAIN does not pay for three runs a face; one above it does.
    no_figures: dict[str, float] = {}
    cheap = (0.8390, -2, (1.0,), (1.0,), no_figures)
    assert best_of([cheap, (0.8390 + MIN_GAIN / 2, -4, (0.92, 1.0, 1.08), (1.0,), no_figures)]) == cheap
    dear = (0.8390 + 2 * MIN_GAIN, -4, (0.92, 1.0, 1.08), (1.0,), no_figures)
    assert best_of([cheap, dear]) == dear
