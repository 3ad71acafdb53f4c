"""Train the emotion model from scratch to the shipped weights: one command, resumable.

    emotrace train            # = python -m ml.training.train with the defaults below, then export

Recipe (each step measured on FER+ Valid; Test is never looked at here):

1. ImageNet MobileNetV2 from the folded-BN npz, BatchNorm statistics re-estimated on FER faces
   (:func:`ml.training.model.calibrate_batchnorm`) so fine-tuning starts from the ImageNet function.
2. Phase 1, frozen backbone: pooled features are computed once (plain and flipped) and cached on
   disk; the linear head is fitted on them in seconds. Caching turns this phase from epochs of
   backbone passes into one.
3. Phase 2, full fine-tuning at 96x96 with augmentation (flip, +-15 deg rotation, zoom, shift,
   brightness, contrast), FER+ soft vote distributions as targets (they carry the ambiguity of rare
   classes better than hard labels or class weights), AdamW with warm-up and cosine decay.
4. The last epoch is kept (cosine decay ends near zero, so it is the settled one), its BatchNorm
   statistics are recomputed exactly on training faces (the 0.999-momentum moving averages lag
   behind fine-tuning), and its temperature is fitted on Valid.

Every epoch is checkpointed atomically (Keras ``BackupAndRestore``): rerunning the same command
after an interruption continues where it stopped. ``config.json`` beside the checkpoints records
the resolved arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ml import EMOTIONS
from ml.training.augment import MILD, make_augmenter, make_stages, mixup
from ml.training.data import FerSplit, load_split, majority_labels, soft_labels, trainable_mask
from ml.training.distill import Teacher, mixed_targets
from ml.training.model import (
    backbone_of,
    build_emotion_model,
    calibrate_batchnorm,
    load_imagenet_npz,
    refresh_batchnorm_statistics,
)
from ml.training.model_files import write_json


@dataclass(frozen=True)
class TrainConfig:
    data: str
    imagenet: str
    out: str
    resolution: int = 96
    epochs: int = 14
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 5e-5
    head_epochs: int = 30
    calibration_faces: int = 1024
    batchnorm_refresh_faces: int = 3200
    seed: int = 1234
    max_train_faces: int | None = None  # smoke runs only
    export_dir: str | None = None  # where to write the serving ONNX + JSON when training ends
    flip_tta: bool = True
    init_from: str | None = None  # start from a trained network (.onnx export or Keras weights), no phase 1
    augment: str = "v1"  # ml.training.augment recipe
    degrade_probability: float = MILD  # v3: the chance of each of its four call degradations
    class_balance: float = 0.0  # loss weight of class c ~ prior_c ** -class_balance (0: none, 1: balanced)
    calibrate_to: str = "votes"  # temperature fitted on Valid to the vote distributions or the majority labels
    distill_from: str | None = None  # an exported model (.onnx) whose reading of the clean face joins the target
    distill_weight: float = 0.5  # the teacher's share of the target (the votes have the rest)
    average_epochs: int = 0  # > 0: constant learning rate, the last N epochs' weights averaged (SWA)
    mixup: float = 0.0  # > 0: mixup of faces and soft targets after augmentation, lambda ~ Beta(mixup, mixup)
    neutral_votes: float = 1.0  # weight of each neutral vote in the soft targets (1: as the crowd voted)


def _training_arrays(split: FerSplit, neutral_votes: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    keep = trainable_mask(split.votes)
    faces = split.images[keep][..., None].astype(np.float32)
    return faces, discount_neutral(soft_labels(split.votes[keep]), neutral_votes)


def discount_neutral(targets: np.ndarray, weight: float) -> np.ndarray:
    """Soft targets with each neutral vote counted ``weight`` times, renormalised.

    A subtle expression is one that only some annotators see: 4 of 10 votes for anger and 6 for
    neutral. Counted as voted, the network learns to call such faces neutral, which is what it
    then does with the moderate expressions of people unlike FER2013's. With ``weight`` 0.5 that
    face's target leans to anger (4 against 3), while a face nobody saw an emotion in stays
    neutral. The majority-vote protocol that FER+ test is scored by still counts votes as cast.
    """
    if weight == 1.0:
        return targets
    if weight <= 0:
        raise ValueError(f"neutral vote weight must be > 0, got {weight}")
    scaled = targets.copy()
    scaled[:, EMOTIONS.index("neutral")] *= weight
    total = scaled.sum(axis=1, keepdims=True)
    return np.divide(scaled, total, out=np.zeros_like(scaled), where=total > 0)


def class_weights(targets: np.ndarray, exponent: float) -> np.ndarray:
    """Per-class loss weights ~ prior ** -exponent, scaled so the average face weighs 1.

    Soft targets spread a face over classes, so the prior is the mean target and a face's weight
    is its target-weighted class weight. Exponent 0.5 (square-root balancing) gives the rare
    classes' faces ~3-6x the weight of a neutral one without letting 119 disgust faces dominate.
    """
    prior = targets.mean(axis=0).astype(np.float64)
    weights = np.where(prior > 0, np.maximum(prior, 1e-12) ** -exponent, 0.0)  # absent classes weigh nothing
    return (weights / float((prior * weights).sum())).astype(np.float32)


def majority_accuracy(logits: np.ndarray, votes: np.ndarray) -> float:
    labels = majority_labels(votes)
    keep = labels >= 0
    return float((logits[keep].argmax(axis=1) == labels[keep]).mean())


def predict_logits(model: keras.Model, faces: np.ndarray, *, flip_tta: bool, batch_size: int = 256) -> np.ndarray:
    logits = model.predict(faces, batch_size=batch_size, verbose=0)
    if flip_tta:
        logits = (logits + model.predict(faces[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2
    return np.asarray(logits, np.float32)


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature minimising soft-target NLL on held-out faces (Guo et al. 2017), by grid search:
    one parameter, so a grid is exact enough and cannot diverge."""
    best_t, best_nll = 1.0, np.inf
    for t in np.arange(0.5, 3.0, 0.01):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = float(-(targets * log_p).sum(axis=1).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return round(best_t, 2)


def calibration_targets(
    logits: np.ndarray, soft: np.ndarray, votes: np.ndarray, calibrate_to: str
) -> tuple[np.ndarray, np.ndarray]:
    """What the temperature is fitted to. ``votes``: the crowd's distribution, so probabilities
    follow annotator disagreement (and read underconfident on faces the crowd agreed on).
    ``majority``: the majority label of the faces that have one, the protocol the test accuracy
    and its calibration error are measured by, so a 0.8 confidence means right 8 times in 10."""
    if calibrate_to == "votes":
        return logits, soft
    if calibrate_to != "majority":
        raise ValueError(f"unknown calibration target {calibrate_to!r}; choose votes or majority")
    labels = majority_labels(votes)
    keep = labels >= 0
    return logits[keep], np.eye(soft.shape[1], dtype=np.float32)[labels[keep]]


def train(config: TrainConfig) -> dict[str, float]:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", asdict(config), sort_keys=True)
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()

    train_split = load_split(Path(config.data), "train")
    valid_split = load_split(Path(config.data), "valid")
    x_train, y_train = _training_arrays(train_split, config.neutral_votes)
    if config.max_train_faces:
        x_train, y_train = x_train[: config.max_train_faces], y_train[: config.max_train_faces]
    x_valid = valid_split.images[..., None].astype(np.float32)
    y_valid = soft_labels(valid_split.votes)
    print(f"train faces {len(x_train)} | valid faces {len(x_valid)}", flush=True)

    model = build_emotion_model(config.resolution)
    head_path = out / "phase1_head.weights.h5"
    backup_dir = out / "backup"
    resuming = backup_dir.exists()
    if not resuming and config.init_from:
        _load_initial_network(model, Path(config.init_from), x_train, config)
    elif not resuming:
        load_imagenet_npz(backbone_of(model), Path(config.imagenet))
        rng = np.random.default_rng(config.seed)
        sample = x_train[rng.permutation(len(x_train))[: config.calibration_faces]]
        calibrate_batchnorm(model, (sample[i : i + 128] for i in range(0, len(sample), 128)))
        _fit_head_on_cached_features(model, x_train, y_train, x_valid, y_valid, config, out)
        model.save_weights(head_path)
    phase1_s = time.monotonic() - started

    steps_per_epoch = len(x_train) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    warmup = max(1, steps_per_epoch // 2)
    schedule: float | keras.optimizers.schedules.LearningRateSchedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 20,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
        alpha=0.01,
    )
    if config.average_epochs:
        # Averaging needs the weights to keep moving: a constant rate, not one decayed to zero.
        schedule = config.learning_rate
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    sample_weights = y_train @ class_weights(y_train, config.class_balance)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_weights))
        .shuffle(len(x_train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size, drop_remainder=True)
        .map(batch_transform(config), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
    rng = np.random.default_rng(config.seed + 1)
    refresh_faces = x_train[rng.permutation(len(x_train))[: config.batchnorm_refresh_faces]]
    tracker = _ValidTracker(x_valid, valid_split.votes, refresh_faces, out / "history.json")
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=False),
        tracker,
    ]
    average = None
    if config.average_epochs:
        average = _WeightAverage(config.epochs - config.average_epochs, out / "average.npz")
        callbacks.append(average)
    model.fit(
        dataset,
        shuffle=False,  # the dataset shuffles itself; Keras ignores (and warns about) its own default here
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=2,
    )
    # BackupAndRestore has left the last epoch's weights in the model (also on a rerun of a
    # finished run, which trains nothing); statistics are refreshed from the weights themselves.
    if average is not None:
        average.apply(model)
    refresh_batchnorm_statistics(model, refresh_faces)
    logits = predict_logits(model, x_valid, flip_tta=config.flip_tta)
    temperature = fit_temperature(*calibration_targets(logits, y_valid, valid_split.votes, config.calibrate_to))
    result = {
        "epochs": config.epochs,
        **({"averaged_epochs": average.count} if average is not None else {}),
        "valid_majority_accuracy": majority_accuracy(logits, valid_split.votes),
        "valid_majority_accuracy_single_pass": majority_accuracy(
            predict_logits(model, x_valid, flip_tta=False), valid_split.votes
        ),
        "temperature": temperature,
        "phase1_seconds": round(phase1_s, 1),
        "train_seconds": round(time.monotonic() - started, 1),
    }
    write_json(out / "result.json", result, sort_keys=True)
    model.save(out / "final.keras")
    print(json.dumps(result), flush=True)
    if config.export_dir:
        from ml.training.export import export_onnx

        export_onnx(
            model,
            Path(config.export_dir),
            temperature=temperature,
            flip_tta=config.flip_tta,
            metadata={"training": {"config": asdict(config), "result": result}},
        )
    return result


def batch_transform(config: TrainConfig) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, ...]]:
    """Augmentation of a (faces, targets, weights) batch; with a teacher, the targets also carry
    the teacher's reading of each face after framing and before the call degradations."""
    if not config.distill_from:
        augment = make_augmenter(config.augment, config.seed, config.degrade_probability)
        if config.mixup > 0:
            return lambda x, y, w: mixup(augment(x), y, w, config.mixup)
        return lambda x, y, w: (augment(x), y, w)
    if config.mixup > 0:
        raise ValueError("mixup and distillation are not combined")
    framing, degrade = make_stages(config.augment, config.seed, config.degrade_probability)
    teacher, weight = Teacher(config.distill_from), config.distill_weight

    def transform(x: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, ...]:
        clean = framing(x)
        taught = tf.reshape(tf.numpy_function(teacher, [clean], tf.float32, stateful=False), tf.shape(y))
        return degrade(clean), mixed_targets(taught, y, weight), w

    return transform


def _load_initial_network(model: keras.Model, source: Path, x_train: np.ndarray, config: TrainConfig) -> None:
    """Start from a trained network: an ONNX export (BatchNorm folded, so its statistics are
    re-estimated on training faces, as for the ImageNet arrays) or a Keras checkpoint."""
    if source.suffix == ".onnx":
        from ml.training.from_onnx import load_onnx_weights

        load_onnx_weights(model, source)
        rng = np.random.default_rng(config.seed)
        sample = x_train[rng.permutation(len(x_train))[: config.calibration_faces]]
        calibrate_batchnorm(model, (sample[i : i + 128] for i in range(0, len(sample), 128)))
    elif source.suffix == ".keras":
        model.set_weights(keras.models.load_model(source).get_weights())
    else:
        model.load_weights(source)
    print(f"fine-tuning from {source}", flush=True)


class _ValidTracker(keras.callbacks.Callback):
    """Logs Valid majority accuracy after each epoch, with refreshed BatchNorm statistics.

    Refreshing only rewrites moving statistics, which training-mode steps never read, so the
    training trajectory is unchanged. History lives in ``history.json`` and survives a resume.
    """

    def __init__(self, x_valid: np.ndarray, votes: np.ndarray, refresh_faces: np.ndarray, history_path: Path) -> None:
        super().__init__()
        self.x_valid, self.votes, self.refresh_faces = x_valid, votes, refresh_faces
        self.history_path = history_path
        self.history: list[dict[str, float]] = json.loads(history_path.read_text()) if history_path.exists() else []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        refresh_batchnorm_statistics(self.model, self.refresh_faces)
        acc = majority_accuracy(predict_logits(self.model, self.x_valid, flip_tta=False), self.votes)
        self.history = [h for h in self.history if h["epoch"] != epoch]
        self.history.append({"epoch": epoch, "valid_acc": acc, "loss": float((logs or {}).get("loss", 0.0))})
        write_json(self.history_path, self.history, sort_keys=True)
        print(f"epoch {epoch + 1}: valid majority accuracy {acc:.4f}", flush=True)


class _WeightAverage(keras.callbacks.Callback):
    """Stochastic weight averaging: the running mean of the weights at the end of each epoch from
    ``first_epoch`` (0-based) on. A mean of points along a constant-rate trajectory sits in a
    flatter region than any one of them, which tends to generalise better and to be better
    calibrated. The mean and its count are saved after every epoch, so a resumed run continues it;
    BatchNorm statistics are recomputed for the averaged weights afterwards (they do not average).
    """

    def __init__(self, first_epoch: int, path: Path) -> None:
        super().__init__()
        self.first_epoch, self.path = first_epoch, path
        self.mean: list[np.ndarray] = []
        self.count, self.last_epoch = 0, -1
        if path.exists():
            with np.load(path) as saved:  # arr_0: (count, last epoch); then the weights in order
                self.count, self.last_epoch = (int(v) for v in saved["arr_0"])
                self.mean = [saved[f"arr_{i}"] for i in range(1, len(saved.files))]

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch < self.first_epoch or epoch <= self.last_epoch:
            return
        weights = [np.asarray(w, np.float64) for w in self.model.get_weights()]
        if self.count == 0:
            self.mean = weights
        else:
            self.mean = [m + (w - m) / (self.count + 1) for m, w in zip(self.mean, weights, strict=True)]
        self.count, self.last_epoch = self.count + 1, epoch
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, np.array([self.count, self.last_epoch]), *self.mean)
        os.replace(tmp, self.path)

    def apply(self, model: keras.Model) -> None:
        if self.count == 0:
            raise RuntimeError(f"no epoch was averaged ({self.path})")
        model.set_weights([m.astype(np.float32) for m in self.mean])


def _fit_head_on_cached_features(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    config: TrainConfig,
    out: Path,
) -> None:
    """Phase 1: frozen backbone. Features are computed once per face (and its mirror image) and
    cached, then the head is trained on them; same logits as training the frozen network end to end."""
    cache = out / f"features_r{config.resolution}_n{len(x_train)}.npz"
    features_model = keras.Model(model.input, model.get_layer("head_dropout").input)
    if cache.exists():
        cached = np.load(cache)
        f_train, f_valid = cached["train"], cached["valid"]
    else:
        f_plain = features_model.predict(x_train, batch_size=256, verbose=0)
        f_flip = features_model.predict(x_train[:, :, ::-1], batch_size=256, verbose=0)
        f_train = np.concatenate([f_plain, f_flip])
        f_valid = features_model.predict(x_valid, batch_size=256, verbose=0)
        np.savez(cache.with_suffix(".tmp.npz"), train=f_train, valid=f_valid)
        os.replace(cache.with_suffix(".tmp.npz"), cache)
    targets = np.concatenate([y_train, y_train])
    dense = model.get_layer("emotion_logits")
    head = keras.Sequential([keras.Input((f_train.shape[1],)), keras.layers.Dropout(0.2), dense])
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    head.fit(f_train, targets, batch_size=256, epochs=config.head_epochs, verbose=0, shuffle=True)
    valid_logits = head.predict(f_valid, verbose=0)
    valid_acc = float((valid_logits.argmax(1) == y_valid.argmax(1))[y_valid.sum(1) > 0].mean())
    print(f"phase 1 (frozen backbone, cached features): valid top-vote accuracy {valid_acc:.4f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER+ root (image folders or fer2013.csv) with fer2013new.csv")
    parser.add_argument("--imagenet", required=True, help="MobileNetV2 ImageNet folded-BN .npz")
    parser.add_argument("--out", required=True, help="run directory: checkpoints, history, result")
    defaults = TrainConfig(data="", imagenet="", out="")
    for name in ("resolution", "epochs", "batch_size", "head_epochs", "seed", "calibration_faces", "average_epochs"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("learning_rate", "weight_decay", "class_balance", "degrade_probability", "mixup", "neutral_votes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--init-from", default=None, help="start from this network (.onnx export or Keras weights)")
    parser.add_argument("--augment", default=defaults.augment, choices=("v1", "v2", "v3"))
    parser.add_argument("--calibrate-to", default=defaults.calibrate_to, choices=("votes", "majority"))
    parser.add_argument("--distill-from", default=None, help="teacher: an exported model (.onnx) read on clean faces")
    parser.add_argument("--distill-weight", type=float, default=defaults.distill_weight)
    parser.add_argument("--max-train-faces", type=int, default=None, help="smoke runs only")
    parser.add_argument("--export-dir", default=None, help="write the serving ONNX model here when done")
    parser.add_argument("--no-flip-tta", dest="flip_tta", action="store_false", help="export without flip averaging")
    args = parser.parse_args(argv)
    train(TrainConfig(**vars(args)))


if __name__ == "__main__":
    main()
