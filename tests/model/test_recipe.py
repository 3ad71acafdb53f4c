"""The second-stage recipe's parts: starting from the shipped export, call-like augmentation, and
class-balanced loss weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path
from ml.training.augment import make_augmenter
from ml.training.from_onnx import load_onnx_weights
from ml.training.model import build_emotion_model
from ml.training.train import class_weights


def test_weights_recovered_from_the_export_compute_the_shipped_function(ferplus_dir: Path) -> None:
    from ml.training.data import load_split

    model = build_emotion_model(96)
    assert load_onnx_weights(model, DEFAULT_MODEL) == 52  # every convolution of MobileNetV2
    faces = load_split(ferplus_dir, "valid").images[:64]
    batch = faces[..., None].astype(np.float32)
    logits = (model.predict(batch, verbose=0) + model.predict(batch[:, :, ::-1], verbose=0)) / 2
    temperature = json.loads(metadata_path(DEFAULT_MODEL).read_text())["temperature"]
    z = logits / temperature
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, EmotionClassifier.load().predict(list(faces)), atol=2e-3)


def test_v2_augmentation_keeps_shape_and_range_and_changes_faces() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48, 1)).astype(np.float32)
    out = np.asarray(make_augmenter("v2", seed=1)(faces))
    assert out.shape == faces.shape
    assert out.min() >= 0.0 and out.max() <= 255.0
    changed = np.abs(out - faces).reshape(64, -1).mean(axis=1) > 1.0
    assert changed.mean() > 0.9
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_augmenter("v3", seed=1)


def test_class_weights_keep_the_average_face_at_one_and_favour_rare_classes() -> None:
    targets = np.zeros((100, 8), np.float32)
    targets[:70, 0] = 1.0  # common
    targets[70:95, 1] = 1.0
    targets[95:, 7] = 1.0  # rare
    weights = class_weights(targets, 0.5)
    assert float((targets @ weights).mean()) == pytest.approx(1.0, abs=1e-5)
    assert weights[7] > weights[1] > weights[0]
    assert weights[7] / weights[0] == pytest.approx((70 / 5) ** 0.5, rel=1e-3)
    np.testing.assert_allclose(class_weights(targets, 0.0)[[0, 1, 7]], 1.0, atol=1e-6)
