"""The quality gate's measures respond to the degradation each is meant to see, and its JSON form
is checked when a model is loaded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.quality import FEATURES, QualityGate, quality_features


def _faces(n: int = 32) -> np.ndarray:
    """Tiles with edges: softened 7x7 blocks (not on JPEG's 8-px grid), so each degradation has
    something to take."""
    rng = np.random.default_rng(0)
    tiles = rng.integers(40, 220, (n, 7, 7)).astype(np.uint8)
    return np.stack(
        [cv2.GaussianBlur(cv2.resize(t, (48, 48), interpolation=cv2.INTER_NEAREST), (3, 3), 0.6) for t in tiles]
    )


def _jpeg(face: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))


def test_each_measure_moves_with_its_degradation() -> None:
    faces = _faces()
    clean = quality_features(faces)
    assert clean.shape == (len(faces), len(FEATURES))
    column = {name: i for i, name in enumerate(FEATURES)}

    blurred = quality_features(np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in faces]))
    assert (blurred[:, column["log_sharpness"]] < clean[:, column["log_sharpness"]]).all()
    assert (blurred[:, column["down_up_detail"]] < clean[:, column["down_up_detail"]]).all()

    rng = np.random.default_rng(1)
    noisy = np.clip(faces + rng.normal(0, 8, faces.shape), 0, 255).astype(np.uint8)
    assert (quality_features(noisy)[:, column["noise"]] > clean[:, column["noise"]]).mean() > 0.9

    compressed = quality_features(np.stack([_jpeg(f, 20) for f in faces]))
    assert compressed[:, column["jpeg_blockiness"]].mean() > clean[:, column["jpeg_blockiness"]].mean()


def _gate(threshold: float = 0.5) -> QualityGate:
    return QualityGate(
        mean=(5.0, 1.0, 1.0, 3.0),
        scale=(1.0, 1.0, 0.2, 1.0),
        weights=(-2.0, 1.0, 1.0, -1.0),
        bias=0.0,
        threshold=threshold,
    )


def test_the_gate_sends_blurred_faces_one_way_and_sharp_ones_the_other() -> None:
    faces = _faces()
    features = np.concatenate(
        [quality_features(faces), quality_features(np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in faces]))]
    )
    sharpness = features[:, 0]
    gate = QualityGate(
        mean=(float(sharpness.mean()), 0.0, 0.0, 0.0),
        scale=(float(sharpness.std()), 1.0, 1.0, 1.0),
        weights=(-4.0, 0.0, 0.0, 0.0),
        bias=0.0,
        threshold=0.5,
    )
    routed = gate.degraded(np.concatenate([faces, np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in faces])]))
    assert not routed[: len(faces)].any() and routed[len(faces) :].all()
    assert gate.degraded(np.zeros((0, 48, 48), np.uint8)).shape == (0,)


def test_gate_json_round_trips_and_is_checked() -> None:
    gate = _gate(0.3)
    assert QualityGate.from_json(gate.to_json()) == gate
    features = quality_features(_faces(4))
    np.testing.assert_allclose(QualityGate.from_json(gate.to_json()).probability(features), gate.probability(features))
    wrong_features = {**gate.to_json(), "features": ["log_sharpness"]}
    with pytest.raises(ValueError, match="features"):
        QualityGate.from_json(wrong_features)
    short = {**gate.to_json(), "weights": [1.0, 2.0]}
    with pytest.raises(ValueError, match="weights"):
        QualityGate.from_json(short)
