"""Route each face to a clean-trained or a call-trained network by its measured image quality.

    python bench/quality_routing.py --calls runs/emotion/calls/export/emotion.onnx

The shipped network reads clean faces best; a network trained with call-condition augmentation
(``emotrace train --calls-epochs 11``) reads blurred, downscaled, noisy and compressed faces far
better and clean ones worse (ml/MODEL_CARD.md, "Recipe changes"). Averaging them splits the
difference; routing each face to one of them could keep the best of each at the cost of one
network per face. This bench measures that: a logistic "degraded?" gate on four cheap features of
the 48x48 face, fitted on FER+ Valid (clean and degraded copies), its threshold chosen on Valid,
then FER+ test accuracy per condition for the shipped network, the calls network and the routed
pair. Test faces are only scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.classifier import EmotionClassifier
from ml.training.data import load_split, majority_labels
from ml.training.degrade import CONDITIONS, degrade

# Conditions where the calls network is the better reader (the gate's positive class).
DEGRADED = ("jpeg_q20", "blur_sigma1.5", "down_up_2x", "down_up_3x", "noise_sigma8")


def quality_features(faces: np.ndarray) -> np.ndarray:
    """Per face: log sharpness, noise level, JPEG 8-px blockiness, detail lost by a 2x down-up."""
    rows = []
    for face in faces:
        f = face.astype(np.float32)
        sharpness = np.log1p(cv2.Laplacian(f, cv2.CV_32F).var())
        noise = np.median(np.abs(f - cv2.medianBlur(face.astype(np.uint8), 3).astype(np.float32)))
        steps = np.abs(np.diff(f, axis=1))
        at_block_edge = np.arange(steps.shape[1]) % 8 == 7
        blockiness = steps[:, at_block_edge].mean() / (steps[:, ~at_block_edge].mean() + 1e-3)
        small = cv2.resize(f, (24, 24), interpolation=cv2.INTER_AREA)
        detail = np.abs(f - cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR)).mean()
        rows.append([sharpness, noise, blockiness, detail])
    return np.asarray(rows, np.float64)


def fit_gate(features: np.ndarray, degraded: np.ndarray, steps: int = 3000) -> tuple[np.ndarray, ...]:
    """Logistic regression by gradient descent on standardised features: (mean, std, weights, bias)."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    z = (features - mean) / std
    weights, bias = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        error = 1.0 / (1.0 + np.exp(-(z @ weights + bias))) - degraded
        weights -= 0.1 * z.T @ error / len(z)
        bias -= 0.1 * float(error.mean())
    return mean, std, weights, np.array(bias)


def gate_probability(features: np.ndarray, gate: tuple[np.ndarray, ...]) -> np.ndarray:
    mean, std, weights, bias = gate
    return 1.0 / (1.0 + np.exp(-(((features - mean) / std) @ weights + float(bias))))


Readings = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def readings(
    data: Path, split: Literal["valid", "test"], clean: EmotionClassifier, calls: EmotionClassifier
) -> tuple[np.ndarray, Readings]:
    """Majority labels, and per condition: the faces' features and both networks' probabilities."""
    faces_split = load_split(data, split)
    labels = majority_labels(faces_split.votes)
    keep = labels >= 0
    faces, labels = faces_split.images[keep], labels[keep]
    out: Readings = {}
    for condition in ("clean", *CONDITIONS):
        x = faces if condition == "clean" else degrade(faces, condition)
        out[condition] = (quality_features(x), clean.predict(list(x)), calls.predict(list(x)))
    return labels, out


def routed_accuracy(
    labels: np.ndarray, data: Readings, gate: tuple[np.ndarray, ...], threshold: float
) -> dict[str, float]:
    result = {}
    for condition, (features, clean_probs, calls_probs) in data.items():
        to_calls = gate_probability(features, gate) > threshold
        predicted = np.where(to_calls[:, None], calls_probs, clean_probs).argmax(axis=1)
        result[condition] = float((predicted == labels).mean())
    return result


def mean_drop(accuracy: dict[str, float]) -> float:
    return 100 * float(np.mean([accuracy["clean"] - v for k, v in accuracy.items() if k != "clean"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path)
    parser.add_argument("--clean", default=None, help="clean-trained export (default: the shipped model)")
    parser.add_argument("--calls", required=True, help="export of the network trained with call-condition augmentation")
    args = parser.parse_args()
    clean, calls = EmotionClassifier.load(args.clean), EmotionClassifier.load(args.calls)

    valid_labels, valid = readings(args.data, "valid", clean, calls)
    features = np.concatenate([f for f, _, _ in valid.values()])
    degraded = np.concatenate([np.full(len(f), c in DEGRADED, np.float64) for c, (f, _, _) in valid.items()])
    gate = fit_gate(features, degraded)

    def score(threshold: float) -> float:
        accuracy = routed_accuracy(valid_labels, valid, gate, threshold)
        return float(np.mean(list(accuracy.values())))

    threshold = max((0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), key=score)

    test_labels, test = readings(args.data, "test", clean, calls)
    columns = {
        "clean network": {c: float((p.argmax(1) == test_labels).mean()) for c, (_, p, _) in test.items()},
        "calls network": {c: float((p.argmax(1) == test_labels).mean()) for c, (_, _, p) in test.items()},
        f"routed (threshold {threshold} on Valid)": routed_accuracy(test_labels, test, gate, threshold),
    }
    print(f"FER+ test, {len(test_labels)} faces; accuracy per condition")
    print(f"{'condition':<16}" + "".join(f"{name:>34}" for name in columns))
    for condition in test:
        print(f"{condition:<16}" + "".join(f"{column[condition]:>34.4f}" for column in columns.values()))
    print(f"{'mean drop':<16}" + "".join(f"{mean_drop(column):>34.2f}" for column in columns.values()))


if __name__ == "__main__":
    main()
