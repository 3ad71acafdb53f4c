"""The second-stage recipe's parts: starting from the shipped export, call-like augmentation,
distillation from the export on clean faces, and class-balanced loss weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path
from ml.training.augment import make_augmenter, make_stages, mixup
from ml.training.distill import Teacher, mixed_targets
from ml.training.from_onnx import load_onnx_weights
from ml.training.model import build_emotion_model
from ml.training.train import TrainConfig, batch_transform, class_weights, discount_neutral


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
    np.testing.assert_allclose(probs, EmotionClassifier.load(routed=False).predict(list(faces)), atol=2e-3)


def test_v2_augmentation_keeps_shape_and_range_and_changes_faces() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48, 1)).astype(np.float32)
    out = np.asarray(make_augmenter("v2", seed=1)(faces))
    assert out.shape == faces.shape
    assert out.min() >= 0.0 and out.max() <= 255.0
    changed = np.abs(out - faces).reshape(64, -1).mean(axis=1) > 1.0
    assert changed.mean() > 0.9
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_augmenter("v9", seed=1)


def test_v3_degrades_about_one_face_in_two_and_leaves_the_rest_to_v1() -> None:
    """v3 = v1's framing, then blur, down-up, JPEG or noise on 15% of faces each. Without the
    framing (identity stage 1), a face left clean comes back unchanged."""
    faces = np.random.default_rng(0).integers(0, 256, (512, 48, 48, 1)).astype(np.float32)
    framing, degrade = make_stages("v3", seed=3)
    out = np.asarray(degrade(faces))
    assert out.shape == faces.shape and out.min() >= 0.0 and out.max() <= 255.0
    changed = np.abs(out - faces).reshape(len(faces), -1).max(axis=1) > 0.0
    assert 1 - 0.85**4 - 0.1 < changed.mean() < 1 - 0.85**4 + 0.1  # about 0.48 of faces degraded
    v1_framing, _ = make_stages("v1", seed=3)
    np.testing.assert_array_equal(np.asarray(framing(faces)), np.asarray(v1_framing(faces)))


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


def test_discounted_neutral_votes_lean_subtle_faces_to_their_emotion() -> None:
    targets = np.zeros((3, 8), np.float32)
    targets[0, [0, 4]] = (0.6, 0.4)  # 6 neutral, 4 anger: a subtle expression
    targets[1, 0] = 1.0  # nobody saw an emotion
    targets[2, [1, 2]] = (0.7, 0.3)  # no neutral vote
    discounted = discount_neutral(targets, 0.5)
    np.testing.assert_allclose(discounted.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(discounted[0, [0, 4]], (3 / 7, 4 / 7), atol=1e-6)
    assert discounted[0].argmax() == 4 and targets[0].argmax() == 0
    np.testing.assert_allclose(discounted[1:], targets[1:], atol=1e-6)
    assert discount_neutral(targets, 1.0) is targets
    with pytest.raises(ValueError, match="> 0"):
        discount_neutral(targets, 0.0)


def test_teacher_gives_the_exports_untempered_distribution(ferplus_dir: Path) -> None:
    from ml.training.data import load_split

    faces = load_split(ferplus_dir, "valid").images[:64]
    served = EmotionClassifier.load(routed=False).predict(list(faces))
    taught = Teacher(DEFAULT_MODEL)(faces[..., None].astype(np.float32))
    np.testing.assert_allclose(taught.sum(axis=1), 1.0, atol=1e-5)
    assert (taught.argmax(axis=1) == served.argmax(axis=1)).all()  # a temperature keeps the order
    # The served temperature (< 1) sharpens; undone, the top class holds less mass.
    assert Teacher(DEFAULT_MODEL).temperature < 1.0
    assert (taught.max(axis=1) <= served.max(axis=1) + 1e-6).all()
    assert taught.max(axis=1).mean() < served.max(axis=1).mean() - 0.01


def test_mixup_blends_faces_targets_and_weights_in_one_proportion_per_face() -> None:
    """Face i is the constant 10*i with a one-hot target on class i and weight i+1, so a blend
    of faces i and j in proportion lam is the constant the target's own proportions predict."""
    classes = np.arange(8)
    faces = np.broadcast_to(10.0 * classes[:, None, None, None], (8, 48, 48, 1)).astype(np.float32)
    targets = np.eye(8, dtype=np.float32)
    weights = (classes + 1).astype(np.float32)
    mixed_faces, mixed_targets, mixed_weights = (np.asarray(t) for t in mixup(faces, targets, weights, 1.0))
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-5)
    assert ((mixed_targets > 1e-6).sum(axis=1) <= 2).all()  # each face blends with one partner
    np.testing.assert_allclose(
        mixed_faces[:, :, :, 0],
        np.broadcast_to((mixed_targets @ (10.0 * classes))[:, None, None], (8, 48, 48)),
        atol=1e-3,
    )
    np.testing.assert_allclose(mixed_weights, mixed_targets @ weights, atol=1e-5)
    assert (mixed_targets.max(axis=1) < 0.99).any()  # Beta(1, 1) rarely leaves all eight unmixed


def test_training_mixes_faces_after_augmentation_only_when_asked() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
    targets = np.eye(8, dtype=np.float32)[np.arange(16) % 8]
    weights = np.ones(16, np.float32)
    _, plain, _ = batch_transform(TrainConfig(data="", imagenet="", out=""))(faces, targets, weights)
    np.testing.assert_array_equal(np.asarray(plain), targets)
    _, mixed, _ = batch_transform(TrainConfig(data="", imagenet="", out="", mixup=1.0))(faces, targets, weights)
    assert not np.array_equal(np.asarray(mixed), targets)
    with pytest.raises(ValueError, match="mixup and distillation"):
        batch_transform(TrainConfig(data="", imagenet="", out="", mixup=0.2, distill_from=str(DEFAULT_MODEL)))


def test_distillation_degrades_the_students_face_and_mixes_the_targets(ferplus_dir: Path) -> None:
    from ml.training.data import load_split

    faces = load_split(ferplus_dir, "valid").images[:32][..., None].astype(np.float32)
    votes = np.eye(8, dtype=np.float32)[np.arange(32) % 8]
    weights = np.ones(32, np.float32)
    teacher = str(DEFAULT_MODEL)
    config = TrainConfig(data="", imagenet="", out="", augment="v2", distill_from=teacher, distill_weight=0.5)
    student, targets, same_weights = (np.asarray(t) for t in batch_transform(config)(faces, votes, weights))
    assert student.shape == faces.shape and (same_weights == weights).all()
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    # Half of each target is the one-hot vote, half the teacher's distribution.
    assert (targets[np.arange(32), np.arange(32) % 8] >= 0.5 - 1e-6).all()
    assert ((targets > 0) & (votes == 0)).any()
    _, no_degradation = make_stages("v1", seed=1)  # v1 has framing and lighting only
    assert np.array_equal(np.asarray(no_degradation(faces)), faces)
    with pytest.raises(ValueError, match="distillation weight"):
        mixed_targets(np.ones((1, 8)) / 8, np.ones((1, 8)) / 8, 1.5)
