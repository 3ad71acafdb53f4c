"""Training machinery on tiny inputs: BN calibration keeps the function, one optimisation step
moves the weights, and the whole training command runs end to end on a Kaggle-layout CSV."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
import keras

from ml import EMOTIONS
from ml.training.model import (
    backbone_of,
    build_emotion_model,
    calibrate_batchnorm,
    load_imagenet_npz,
    refresh_batchnorm_statistics,
)
from ml.training.train import TrainConfig, fit_temperature, train

NPZ = "weights/mobilenetv2_imagenet/mobilenet_v2_1.0_224_imagenet_dequant.npz"


def _faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48, 1)).astype(np.float32)


def test_batchnorm_calibration_preserves_inference_and_matches_batch_statistics(shared_dir: Path) -> None:
    model = build_emotion_model(resolution=64)
    load_imagenet_npz(backbone_of(model), shared_dir / NPZ)
    faces = _faces(64)
    before = model(faces, training=False).numpy()
    calibrate_batchnorm(model, [faces[:32], faces[32:]])
    after = model(faces, training=False).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-3, atol=1e-3)
    # In training mode BN now normalises with statistics close to its moving ones, so the first
    # fine-tuning step sees (almost) the ImageNet function instead of a re-normalised one.
    dropout_free = keras.Model(model.input, model.get_layer("head_dropout").input)
    gap = np.abs(dropout_free(faces, training=True).numpy() - dropout_free(faces, training=False).numpy())
    assert float(gap.mean()) < 0.05 * float(np.abs(dropout_free(faces, training=False).numpy()).mean()) + 1e-3


def test_batchnorm_refresh_sets_exact_statistics_and_restores_momentum() -> None:
    model = build_emotion_model(resolution=32)
    backbone = backbone_of(model)
    bn = backbone.get_layer("bn_Conv1")
    faces = _faces(128, seed=3)
    refresh_batchnorm_statistics(model, faces, batch_size=64)
    preprocess = keras.Model(model.input, model.get_layer("to_unit_range").output)
    conv_out = keras.Model(backbone.input, backbone.get_layer("Conv1").output)(preprocess(faces)).numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), conv_out.reshape(-1, conv_out.shape[-1]).mean(axis=0), atol=1e-4)
    assert bn.momentum == 0.999


def test_one_training_step_changes_weights_and_gives_finite_loss() -> None:
    model = build_emotion_model(resolution=32)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    targets = np.eye(len(EMOTIONS), dtype=np.float32)[np.arange(8) % len(EMOTIONS)]
    before = [w.copy() for w in model.get_layer("emotion_logits").get_weights()]
    loss = model.train_on_batch(_faces(8), targets)
    after = model.get_layer("emotion_logits").get_weights()
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


def test_temperature_is_fitted_towards_calibration() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 2000)
    logits = rng.normal(size=(2000, 8)).astype(np.float32)
    logits[np.arange(2000), labels] += 1.0
    targets = np.eye(8, dtype=np.float32)[labels]
    assert fit_temperature(logits * 3.0, targets) > fit_temperature(logits, targets) * 2


def test_weight_average_is_the_mean_of_the_chosen_epochs_across_a_resume(tmp_path: Path) -> None:
    from ml.training.train import _WeightAverage

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    rng = np.random.default_rng(0)
    snapshots = [[rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()] for _ in range(4)]
    average = _WeightAverage(1, tmp_path / "average.npz")
    average.set_model(model)
    for epoch in (0, 1, 2):  # epoch 0 comes before the averaged ones
        model.set_weights(snapshots[epoch])
        average.on_epoch_end(epoch)
    resumed = _WeightAverage(1, tmp_path / "average.npz")  # a new process after an interruption
    resumed.set_model(model)
    model.set_weights(snapshots[0])
    resumed.on_epoch_end(2)  # an epoch replayed after the resume is not counted twice
    model.set_weights(snapshots[3])
    resumed.on_epoch_end(3)
    resumed.apply(model)
    assert resumed.count == 3
    for got, *seen in zip(model.get_weights(), *snapshots[1:], strict=True):
        np.testing.assert_allclose(got, np.mean(seen, axis=0), rtol=1e-6)


def _kaggle_csv(tmp_path: Path) -> Path:
    """A tiny FER2013 CSV with FER+ votes: 48 training faces, 16 Valid faces."""
    data = tmp_path / "fer"
    data.mkdir()
    rng = np.random.default_rng(1)
    usages = ["Training"] * 48 + ["PublicTest"] * 16
    with (
        (data / "fer2013.csv").open("w", newline="") as pixels,
        (data / "fer2013new.csv").open("w", newline="") as votes,
    ):
        pixel_writer, vote_writer = csv.writer(pixels), csv.writer(votes)
        pixel_writer.writerow(["emotion", "pixels", "Usage"])
        vote_writer.writerow(["Usage", "Image name", *EMOTIONS, "unknown", "NF"])
        for index, usage in enumerate(usages):
            label = index % len(EMOTIONS)
            row_votes = [0] * 10
            row_votes[label] = 8
            row_votes[(label + 1) % len(EMOTIONS)] = 2
            pixel_writer.writerow([0, " ".join(map(str, rng.integers(0, 256, 48 * 48))), usage])
            vote_writer.writerow([usage, f"fer{index:07d}.png", *row_votes])
    return data


def _tiny_config(tmp_path: Path, shared_dir: Path, **changes: object) -> TrainConfig:
    """A seconds-long run on the tiny CSV: 32-px network, one head epoch, one fine-tuning epoch."""
    config = TrainConfig(
        data=str(_kaggle_csv(tmp_path)),
        imagenet=str(shared_dir / NPZ),
        out=str(tmp_path / "run"),
        resolution=32,
        epochs=1,
        batch_size=16,
        head_epochs=1,
        calibration_faces=32,
    )
    return replace(config, **changes)  # type: ignore[arg-type]


def test_training_command_end_to_end_on_kaggle_csv(tmp_path: Path, shared_dir: Path) -> None:
    out = tmp_path / "run"
    config = _tiny_config(tmp_path, shared_dir)
    result = train(config)
    assert (out / "final.keras").is_file()
    assert json.loads((out / "config.json").read_text())["resolution"] == 32
    assert 0.0 <= float(result["valid_majority_accuracy"]) <= 1.0
    # Rerunning resumes from the backup instead of starting over: no new epochs are trained.
    history = json.loads((out / "history.json").read_text())
    train(config)
    assert json.loads((out / "history.json").read_text()) == history


def test_training_with_weight_averaging_exports_the_averaged_network(tmp_path: Path, shared_dir: Path) -> None:
    assert train(_tiny_config(tmp_path, shared_dir, epochs=2, average_epochs=2))["averaged_epochs"] == 2
    with np.load(tmp_path / "run" / "average.npz") as saved:
        assert list(saved["arr_0"]) == [2, 1]
        mean = [saved[f"arr_{i}"] for i in range(1, len(saved.files))]
    final = keras.models.load_model(tmp_path / "run" / "final.keras", compile=False)
    for variable, averaged in zip(final.weights, mean, strict=True):
        if variable.trainable:  # BatchNorm statistics are recomputed for the averaged weights
            np.testing.assert_allclose(variable.numpy(), averaged, rtol=1e-5, atol=1e-6)


def test_recipe_runs_its_networks_once_and_exports_the_routed_pair_or_the_ensemble(
    tmp_path: Path, shared_dir: Path
) -> None:
    from ml.classifier import EmotionClassifier
    from ml.training.recipe import run_recipe, stage_configs

    base = replace(_tiny_config(tmp_path, shared_dir), epochs=14, export_dir=str(tmp_path / "export"))
    # The shipped recipe: stage 1, its fine-tune for call conditions, the routed pair.
    stage1, stage2 = stage_configs(base, stage1_epochs=1, calls_epochs=0, stage2_epochs=1)
    assert (stage1.augment, stage1.class_balance) == ("v1", 0.0)
    assert stage1.export_dir == str(Path(stage1.out) / "export")
    assert (stage2.augment, stage2.calibrate_to) == ("v3", "majority")
    assert stage2.export_dir == str(Path(stage2.out) / "export")
    assert stage2.init_from == str(Path(stage1.out) / "final.keras")
    run_recipe(base, stage1_epochs=1, calls_epochs=0, stage2_epochs=1)
    meta = json.loads((tmp_path / "export" / "emotion.json").read_text())
    assert meta["routing"]["calls_model"] == "emotion_calls.onnx"
    assert meta["routing"]["gate"]["threshold"] in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    calls_meta = json.loads((tmp_path / "export" / "emotion_calls.json").read_text())
    assert len(meta["framings_fit"]["candidates"]) == 9  # three per network, fitted together
    pair = EmotionClassifier.load(tmp_path / "export" / "emotion.onnx")
    assert pair.gate is not None and "+" in pair.name
    assert (list(pair.framings), list(pair.calls_framings)) == (meta["framings"], calls_meta["framings"])
    assert pair.predict([np.zeros((48, 48), np.uint8), np.full((30, 30), 99, np.uint8)]).shape == (2, 8)
    stamps = [(Path(c.out) / "result.json").stat().st_mtime_ns for c in (stage1, stage2)]
    run_recipe(base, stage1_epochs=1, calls_epochs=0, stage2_epochs=1)
    assert [(Path(c.out) / "result.json").stat().st_mtime_ns for c in (stage1, stage2)] == stamps
    # Starting from a trained network skips stage 1; it is the pair's clean network, so an export.
    (only,) = stage_configs(base, calls_epochs=0, stage2_epochs=1, init_from="net.onnx")
    assert only.init_from == "net.onnx" and only.out.endswith("stage2")
    with pytest.raises(ValueError, match="onnx"):
        stage_configs(base, stage2_epochs=1, init_from="net.keras")
    with pytest.raises(ValueError, match="0 epochs"):
        stage_configs(base, calls_epochs=1, stage2_epochs=1)
    (alone,) = stage_configs(base)
    assert alone.export_dir == base.export_dir and alone.calibrate_to == "majority"

    # With the calls network: both exported together. Stage 1 is kept, not retrained.
    first, calls = stage_configs(base, stage1_epochs=1, calls_epochs=1)
    assert first.export_dir is None and (calls.augment, calls.init_from, calls.export_dir) == ("v2", None, None)
    result = run_recipe(base, stage1_epochs=1, calls_epochs=1)
    assert (Path(first.out) / "result.json").stat().st_mtime_ns == stamps[0]
    assert result["members"] == 2
    meta = json.loads((tmp_path / "export" / "emotion.json").read_text())
    assert meta["flip_tta"] is False and len(meta["training"]["members"]) == 2
    assert [m["config"]["augment"] for m in meta["training"]["members"]] == ["v1", "v2"]
    probs = EmotionClassifier.load(tmp_path / "export" / "emotion.onnx").predict([np.zeros((48, 48), np.uint8)])
    assert probs.shape == (1, 8) and abs(float(probs.sum()) - 1.0) < 1e-5
