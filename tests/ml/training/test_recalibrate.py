"""Refitting the temperature of an export rewrites only its softmax scale: the same decisions,
probabilities as sharp as the calibration target asks, and metadata the loader accepts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path
from ml.training.data import load_split
from ml.training.recalibrate import recalibrate


def test_recalibration_changes_confidence_not_decisions(tmp_path: Path, ferplus_dir: Path) -> None:
    model = tmp_path / DEFAULT_MODEL.name
    shutil.copy(DEFAULT_MODEL, model)
    shutil.copy(metadata_path(DEFAULT_MODEL), metadata_path(model))
    faces = list(load_split(ferplus_dir, "test").images[:256])
    before = EmotionClassifier.load(model, routed=False).predict(faces)

    votes_t = recalibrate(model, ferplus_dir, "votes")
    after_votes = EmotionClassifier.load(model, routed=False).predict(faces)  # loads only if the sha256 was updated
    majority_t = recalibrate(model, ferplus_dir, "majority")
    after_majority = EmotionClassifier.load(model, routed=False).predict(faces)

    assert json.loads(metadata_path(model).read_text())["temperature"] == majority_t
    # Crowd votes spread over classes more than majority labels do: a softer fit.
    assert votes_t > majority_t
    for probs in (after_votes, after_majority):
        np.testing.assert_array_equal(probs.argmax(axis=1), before.argmax(axis=1))
    assert after_majority.max(axis=1).mean() > after_votes.max(axis=1).mean()
