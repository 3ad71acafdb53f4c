"""Does reading each person relative to their own resting face help? Measured on a labelled folder
of several photos per person.

    python bench/person_baseline.py --data ../shared/data/taiwanese_posed [--person '^(..)'] [--json out.json]

The idea: the classifier reads every face against FER2013's population, so a person whose resting
face it reads as partly sad or angry keeps that reading all call long, and small movements away
from it rarely cross into another class. Over a recording the person is their own reference: their
resting reading is the per-emotion median of their log-probabilities (at rest most of the time,
the median is their resting face), and a sample's relative reading maps that resting reading onto
the model's reading of a typical resting face, ``relative(p) ~ p * reference / resting``
(renormalised). The reference is the same median over FER+ Valid's neutral-majority faces.

Each photo's face is found and read as ``emotrace evaluate --detect`` does; photos are grouped by
person through ``--person``, a regular expression whose first group, matched against the file
name, names the person (the default fits ``PPTVxNN.jpg``: performer ``PP``). Scored on every
photo:

- ``raw``: the classifier's own reading (the ``emotrace evaluate`` figure);
- ``relative, resting over all photos``: the resting reading over all of a person's photos. A
  posed set is mostly expressions, so this is the hardest case for the median;
- ``relative, resting over a call-like mix``: the resting reading over a mix in which the person's
  neutral photos make up ``--rest-share`` of the samples, as for a person at rest most of a call
  (people without a neutral photo keep their raw reading). The labels only compose the mix;
- the same with Valid's mean reading over all its faces as the reference instead: a reference
  less neutral than a resting face, so it adds a prior shift away from neutral to the baseline;
- that prior shift alone, with no person's baseline: ``p * mean reference / resting reference``.

Nothing is fitted on the folder: it stays an evaluation set. Accuracy is also printed over the
expressive photos alone, since the call-like mix reads a person's neutral photos as their resting
face by construction.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml import EMOTIONS
from ml.classifier import EmotionClassifier
from ml.training.data import load_split, majority_faces
from ml.training.evaluate import classification_metrics
from ml.training.folder_eval import FolderReading, read_folder

FERPLUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus"
NEUTRAL = EMOTIONS.index("neutral")
FLOOR = 1e-6


def resting_reading(probs: np.ndarray) -> np.ndarray:
    """(N, 8) -> (8,): the per-emotion median of the log-probabilities, renormalised."""
    resting = np.exp(np.median(np.log(np.maximum(probs, FLOOR)), axis=0))
    return resting / resting.sum()


def relative_reading(
    read: FolderReading, people: np.ndarray, reference: np.ndarray, rest_share: float | None
) -> np.ndarray:
    """Each found face's reading relative to its person's resting face; raw where there is none."""
    probs = read.probs.astype(np.float64)
    found = read.predicted >= 0
    for person in np.unique(people):
        own = found & (people == person)
        samples = probs[own]
        if rest_share is not None:
            rest = probs[own & (read.labels == NEUTRAL)]
            if len(rest) == 0:
                continue
            expressive = probs[own & (read.labels != NEUTRAL)]
            copies = max(1, int(np.ceil(rest_share / (1 - rest_share) * len(expressive) / len(rest))))
            samples = np.concatenate([expressive, np.repeat(rest, copies, axis=0)])
        probs[own] = _shifted(probs[own], reference / resting_reading(samples))
    return probs


def _shifted(probs: np.ndarray, factor: np.ndarray) -> np.ndarray:
    shifted = np.maximum(probs.astype(np.float64), FLOOR) * factor
    return shifted / shifted.sum(axis=1, keepdims=True)


def scores(probs: np.ndarray, read: FolderReading) -> dict[str, object]:
    predicted = np.where(read.predicted >= 0, probs.argmax(axis=1), -1)
    metrics = classification_metrics(probs, read.labels, predicted=predicted)
    expressive = read.labels != NEUTRAL
    return {
        "accuracy": metrics["accuracy"],
        "accuracy_expressive": round(float((predicted[expressive] == read.labels[expressive]).mean()), 4),
        "macro_f1": metrics["macro_f1"],
        "recall": {name: row["recall"] for name, row in metrics["per_class"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder laid out <class>/<image>")
    parser.add_argument("--ferplus", type=Path, default=FERPLUS, help="FER+ root, for the reference")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--person", default=r"^(..)", help="regex; its first group of the file name names the person")
    parser.add_argument("--rest-share", type=float, default=0.6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    classifier = EmotionClassifier.load(args.model)
    valid_faces, valid_labels = majority_faces(load_split(args.ferplus, "valid"))
    valid = classifier.predict(list(valid_faces)).astype(np.float64)
    resting_reference = resting_reading(valid[valid_labels == NEUTRAL])
    mean_reference = resting_reading(valid)
    read = read_folder(classifier, args.data, detect=True)
    pattern = re.compile(args.person)
    people = np.array([(m.group(1) if (m := pattern.search(p.name)) else p.name) for p in read.paths])
    mix = f"call-like mix {args.rest_share:g}"
    report: dict[str, object] = {
        "data": str(args.data),
        "people": len(np.unique(people)),
        "photos": len(people),
        "no_face": int((read.predicted < 0).sum()),
        "resting_reference": dict(zip(EMOTIONS, np.round(resting_reference, 6).tolist(), strict=True)),
        "readings": {
            "raw": scores(read.probs, read),
            "relative, resting over all photos": scores(relative_reading(read, people, resting_reference, None), read),
            f"relative, resting over a {mix}": scores(
                relative_reading(read, people, resting_reference, args.rest_share), read
            ),
            f"relative, {mix}, Valid mean reference": scores(
                relative_reading(read, people, mean_reference, args.rest_share), read
            ),
            "prior shift alone": scores(_shifted(read.probs, mean_reference / resting_reference), read),
        },
    }
    print(f"{report['photos']} photos of {report['people']} people, {report['no_face']} without a face found")
    for name, row in report["readings"].items():  # type: ignore[attr-defined]
        recall = "  ".join(f"{k[:4]} {v:.2f}" for k, v in row["recall"].items())
        print(
            f"{name:50s} accuracy {row['accuracy']:.4f}  expressive {row['accuracy_expressive']:.4f}  "
            f"macro-F1 {row['macro_f1']:.3f}  recall {recall}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
