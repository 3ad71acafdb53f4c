"""The ONNX file ONNX Runtime serves computes what the Keras network computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
tf2onnx = pytest.importorskip("tf2onnx")

from ml.classifier import EmotionClassifier
from ml.training.export import TOOLCHAIN, export_onnx, parity_gap, serving_function
from ml.training.model import build_emotion_model


@pytest.mark.parametrize(("flip_tta", "fp16_weights", "tolerance"), [(False, False, 1e-4), (True, True, 1e-2)])
def test_export_reload_parity(tmp_path: Path, flip_tta: bool, fp16_weights: bool, tolerance: float) -> None:
    model = build_emotion_model(resolution=64)
    onnx_path = export_onnx(
        model, tmp_path, temperature=1.7, flip_tta=flip_tta, metadata={"note": "test"}, fp16_weights=fp16_weights
    )
    meta = json.loads((tmp_path / "emotion.json").read_text())
    assert meta["temperature"] == 1.7 and meta["flip_tta"] is flip_tta and len(meta["sha256"]) == 64
    assert meta["toolchain"]["tf2onnx"] == tf2onnx.__version__ and set(meta["toolchain"]) == set(TOOLCHAIN)

    faces = np.random.default_rng(0).integers(0, 256, (12, 48, 48, 1)).astype(np.float32)
    assert parity_gap(model, onnx_path, faces, temperature=1.7, flip_tta=flip_tta) < tolerance

    # Through the serving class, from crops of other sizes and colour layouts.
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (90, 70, 3), dtype=np.uint8), rng.integers(0, 256, (30, 30), dtype=np.uint8)]
    classifier = EmotionClassifier.load(onnx_path)
    expected = serving_function(model, temperature=1.7, flip_tta=flip_tta)(classifier.preprocess(crops)).numpy()
    np.testing.assert_allclose(classifier.predict(crops), expected, atol=tolerance)
