"""Pair a clean-trained and a call-trained export behind a quality gate fitted on FER+ Valid.

    python -m ml.training.routing --clean runs/emotion/stage1/export/emotion.onnx \\
        --calls runs/emotion/stage2/export/emotion.onnx --out ml/weights

The gate (``ml.quality``) learns "is this face degraded?" from Valid faces, clean and under every
condition of ``ml.training.degrade``; the positive class is the conditions where the call-trained
network reads better (blur, low resolution, JPEG, noise). Its threshold is the one under which the
routed pair's mean accuracy over all conditions, clean included, is highest on Valid. FER+ test
faces are never read here.

The export directory receives both networks (``emotion.onnx`` and ``emotion_calls.onnx``, each
with its own metadata and sha256); the first one's metadata names the second, its sha256 and the
gate, which is what makes :meth:`ml.classifier.EmotionClassifier.load` serve the pair.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path, read_model
from ml.quality import QualityGate, quality_features
from ml.training.data import load_split, majority_faces
from ml.training.degrade import under_conditions
from ml.training.model_files import write_json

CALLS_MODEL = "emotion_calls.onnx"
# Conditions where the call-trained network is the better reader: the gate's positive class.
DEGRADED = ("jpeg_q20", "blur_sigma1.5", "down_up_2x", "down_up_3x", "noise_sigma8")
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

# Per condition: the faces' quality features and both networks' probabilities.
Readings = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def readings(
    data: Path, split: Literal["valid", "test"], clean: EmotionClassifier, calls: EmotionClassifier
) -> tuple[np.ndarray, Readings]:
    """Majority labels of ``split``'s faces that have one, and what each condition gives."""
    faces, labels = majority_faces(load_split(data, split))
    out: Readings = {
        condition: (quality_features(x), clean.predict(list(x)), calls.predict(list(x)))
        for condition, x in under_conditions(faces)
    }
    return labels, out


def fit_logistic(features: np.ndarray, positive: np.ndarray, steps: int = 3000) -> QualityGate:
    """Logistic regression by full-batch gradient descent on standardised features (four of them:
    no library needed, and it cannot fail to converge); threshold 0.5 until one is chosen."""
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    z = (features - mean) / scale
    weights, bias = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        error = 1.0 / (1.0 + np.exp(-(z @ weights + bias))) - positive
        weights -= 0.1 * z.T @ error / len(z)
        bias -= 0.1 * float(error.mean())
    return QualityGate(
        mean=tuple(map(float, mean)),
        scale=tuple(map(float, scale)),
        weights=tuple(map(float, weights)),
        bias=float(bias),
        threshold=0.5,
    )


def routed_accuracy(labels: np.ndarray, data: Readings, gate: QualityGate) -> dict[str, float]:
    result = {}
    for condition, (features, clean_probs, calls_probs) in data.items():
        to_calls = gate.routes(features)
        predicted = np.where(to_calls[:, None], calls_probs, clean_probs).argmax(axis=1)
        result[condition] = float((predicted == labels).mean())
    return result


def mean_drop(accuracy: dict[str, float]) -> float:
    """Mean accuracy lost from clean over the degraded conditions, in points."""
    return 100 * float(np.mean([accuracy["clean"] - v for k, v in accuracy.items() if k != "clean"]))


def fit_gate(labels: np.ndarray, valid: Readings) -> QualityGate:
    """The gate fitted on Valid readings, with the threshold that routes Valid best."""
    features = np.concatenate([f for f, _, _ in valid.values()])
    positive = np.concatenate([np.full(len(f), c in DEGRADED, np.float64) for c, (f, _, _) in valid.items()])
    fitted = fit_logistic(features, positive)

    def score(threshold: float) -> float:
        return float(np.mean(list(routed_accuracy(labels, valid, replace(fitted, threshold=threshold)).values())))

    return replace(fitted, threshold=max(THRESHOLDS, key=score))


def build_routed_export(clean_model: Path, calls_model: Path, data: Path, out_dir: Path) -> dict[str, object]:
    """Fit the gate on Valid and write the pair to ``out_dir``; returns the Valid figures.

    The clean export may already route (the shipped model, refitted): its own network is used and
    its routing replaced. The call export must be a single network."""
    if isinstance(read_model(calls_model)[1].get("routing"), dict):
        raise ValueError(f"{calls_model} routes between two networks: give a single-network export")
    # The gate is fitted on the networks as trained; zooms are fitted afterwards, for this gate
    # (ml.training.framings), so any recorded for an earlier gate are dropped below.
    clean = EmotionClassifier.load(clean_model, routed=False, framings=(1.0,))
    calls = EmotionClassifier.load(calls_model, framings=(1.0,))
    labels, valid = readings(data, "valid", clean, calls)
    gate = fit_gate(labels, valid)
    accuracy = routed_accuracy(labels, valid, gate)
    share = float(np.mean(gate.routes(valid["clean"][0])))

    out_dir.mkdir(parents=True, exist_ok=True)
    calls_target = out_dir / CALLS_MODEL
    _copy_export(calls_model, calls_target)
    calls_meta = json.loads(metadata_path(calls_target).read_text())
    calls_sha = calls_meta["sha256"]
    clean_target = out_dir / DEFAULT_MODEL.name
    _copy_export(clean_model, clean_target)
    meta = json.loads(metadata_path(clean_target).read_text())
    for stale in (meta, calls_meta):
        stale.pop("framings", None)
        stale.pop("framings_fit", None)
    write_json(metadata_path(calls_target), calls_meta)
    result: dict[str, object] = {
        "threshold": gate.threshold,
        "valid_accuracy": {k: round(v, 4) for k, v in accuracy.items()},
        "valid_mean_drop": round(mean_drop(accuracy), 2),
        "valid_clean_faces_to_calls": round(share, 4),
    }
    meta["routing"] = {
        "calls_model": CALLS_MODEL,
        "calls_sha256": calls_sha,
        "gate": gate.to_json(),
        "fitted_on": "FER2013Valid majority-labelled faces, clean and under each ml.training.degrade condition",
        "positive_conditions": list(DEGRADED),
        "valid": result,
    }
    write_json(metadata_path(clean_target), meta)
    return result


def _copy_export(source: Path, target: Path) -> None:
    """The ONNX file and its metadata, unless ``target`` is ``source`` itself."""
    if target.resolve() == source.resolve():
        return
    for src, dst in ((source, target), (metadata_path(source), metadata_path(target))):
        tmp = dst.with_suffix(dst.suffix + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path, help="FER+ root")
    parser.add_argument("--clean", required=True, type=Path, help="clean-trained single-network export")
    parser.add_argument("--calls", required=True, type=Path, help="call-condition single-network export")
    parser.add_argument("--out", required=True, type=Path, help="export directory for the routed pair")
    args = parser.parse_args(argv)
    print(json.dumps(build_routed_export(args.clean, args.calls, args.data, args.out)))


if __name__ == "__main__":
    main()
