"""An ensemble export serves the mean of its members' logits, and each member can be taken back out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import keras

from ml.classifier import DEFAULT_MODEL, EmotionClassifier
from ml.training.ensemble import ensemble_model
from ml.training.export import export_onnx
from ml.training.from_onnx import load_onnx_weights
from ml.training.model import build_emotion_model


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def members() -> list[keras.Model]:
    """The shipped network, and a copy with another head and rescaled kernels: two real
    networks whose logits differ (random MobileNetV2 weights give logits of ~1e-12, which would prove nothing)."""
    first, second = build_emotion_model(96), build_emotion_model(96)
    load_onnx_weights(first, DEFAULT_MODEL)
    second.set_weights(first.get_weights())
    # ONNX export merges identical constants and computations: every kernel differs a little.
    for layer in second.get_layer("mobilenetv2_1.00_96").layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
            layer.set_weights([layer.get_weights()[0] * 1.02])
    kernel, bias = second.get_layer("emotion_logits").get_weights()
    rng = np.random.default_rng(7)
    second.get_layer("emotion_logits").set_weights([rng.permutation(kernel), bias[::-1].copy()])
    return [first, second]


def test_ensemble_export_serves_the_mean_of_member_logits(members: list[keras.Model], tmp_path: Path) -> None:
    faces = np.random.default_rng(0).integers(0, 256, (10, 48, 48, 1)).astype(np.float32)
    each = [member.predict(faces, verbose=0) for member in members]
    assert np.abs(each[0] - each[1]).max() > 0.5  # two different networks, or the test proves nothing

    path = export_onnx(
        ensemble_model(members), tmp_path, temperature=1.5, flip_tta=False, metadata={}, fp16_weights=False
    )
    served = EmotionClassifier.load(path).predict(list(faces[..., 0].astype(np.uint8)))
    np.testing.assert_allclose(served, _softmax((each[0] + each[1]) / 2 / 1.5), atol=1e-4)
    assert json.loads((tmp_path / "emotion.json").read_text())["flip_tta"] is False


def test_each_member_is_recovered_from_the_ensemble_export(members: list[keras.Model], tmp_path: Path) -> None:
    path = export_onnx(
        ensemble_model(members), tmp_path, temperature=1.0, flip_tta=False, metadata={}, fp16_weights=False
    )
    faces = np.random.default_rng(1).integers(0, 256, (6, 48, 48, 1)).astype(np.float32)
    for index, member in enumerate(members):
        recovered = build_emotion_model(96)
        assert load_onnx_weights(recovered, path, member=index) == 52
        np.testing.assert_allclose(recovered.predict(faces, verbose=0), member.predict(faces, verbose=0), atol=1e-3)
    with pytest.raises(ValueError, match="ensemble"):
        load_onnx_weights(build_emotion_model(96), path)


def test_an_ensemble_needs_two_members(members: list[keras.Model]) -> None:
    with pytest.raises(ValueError, match="two"):
        ensemble_model(members[:1])
