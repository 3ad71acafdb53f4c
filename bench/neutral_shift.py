"""A model's reading with its neutral probability scaled down afterwards: the post-hoc baseline
that a training change against the pull towards neutral has to beat.

    python bench/neutral_shift.py [--model M] [--cross-domain ../shared/data/taiwanese_posed] [--json out.json]

For each scale (1: as served), every probability vector has its neutral entry multiplied by the
scale and is renormalised. Printed: FER+ Valid majority accuracy and macro-F1 (the network alone,
``routed=False``, so a single-network export and the clean network of a pair compare alike), and
the cross-domain folder's accuracy and recall through the pipeline's detector and crop (as
``emotrace evaluate --detect``). The folder is only reported; FER+ test is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import EMOTIONS
from ml.classifier import EmotionClassifier
from ml.training.data import load_split, majority_faces
from ml.training.evaluate import classification_metrics
from ml.training.folder_eval import read_folder

FERPLUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus"
CROSS_DOMAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "taiwanese_posed"
SCALES = (1.0, 0.7, 0.5)


def scaled(probs: np.ndarray, scale: float) -> np.ndarray:
    out = probs.astype(np.float64)
    out[:, EMOTIONS.index("neutral")] *= scale
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped clean network")
    parser.add_argument("--ferplus", type=Path, default=FERPLUS)
    parser.add_argument("--cross-domain", type=Path, default=CROSS_DOMAIN)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    classifier = EmotionClassifier.load(args.model, routed=False)
    faces, labels = majority_faces(load_split(args.ferplus, "valid"))
    valid = classifier.predict(list(faces))
    read = read_folder(classifier, args.cross_domain, detect=True)
    rows = []
    for scale in SCALES:
        on_valid = classification_metrics(scaled(valid, scale), labels)
        cross = scaled(read.probs, scale)
        predicted = np.where(read.predicted >= 0, cross.argmax(axis=1), -1)
        on_cross = classification_metrics(cross, read.labels, predicted=predicted)
        rows.append(
            {
                "neutral_scale": scale,
                "valid_accuracy": on_valid["accuracy"],
                "valid_macro_f1": on_valid["macro_f1"],
                "cross_domain_accuracy": on_cross["accuracy"],
                "cross_domain_recall": {name: row["recall"] for name, row in on_cross["per_class"].items()},
            }
        )
        recall = "  ".join(f"{k[:4]} {v:.2f}" for k, v in rows[-1]["cross_domain_recall"].items())  # type: ignore[attr-defined]
        print(
            f"neutral x {scale:.1f}: Valid {on_valid['accuracy']:.4f} (macro-F1 {on_valid['macro_f1']:.3f})  "
            f"cross-domain {on_cross['accuracy']:.4f}  recall {recall}"
        )
    if args.json:
        args.json.write_text(json.dumps({"model": classifier.name, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
