"""Choose the zooms each network of an export is read at (``ml.framings``), on FER+ Valid.

    python -m ml.training.framings --model ml/weights/emotion.onnx --data ../shared/data/ferplus

Every candidate set of framings is scored as the routing threshold is (``ml.training.routing``):
the mean majority accuracy over Valid's faces, clean and under each condition of
``ml.training.degrade``, each face read by the network the model's gate sends it to. A routed
pair's two networks are chosen together (every combination is scored); a choice that reads each
face more times must beat the cheaper ones by more than ``MIN_GAIN``. The result is written into
each network's metadata (``framings``; the model's own also gets ``framings_fit``, every
candidate's figures); the ONNX files are not touched. FER+ test faces are never read.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path, read_calls_network, read_model
from ml.framings import AS_TRAINED, average_readings
from ml.quality import QualityGate
from ml.training.data import load_split, majority_faces
from ml.training.degrade import under_conditions
from ml.training.model_files import write_json

CANDIDATES: tuple[tuple[float, ...], ...] = (AS_TRAINED, (0.96, 1.0, 1.04), (0.92, 1.0, 1.08))
# A dearer candidate must beat a cheaper one by more than this mean accuracy (0.1 point: about
# 32 of Valid's 3,199 majority-labelled faces in one of the ten conditions), or the cheaper one is kept.
MIN_GAIN = 0.001

# Per network, per condition, per zoom: Valid probabilities.
Readings = dict[str, dict[str, dict[float, np.ndarray]]]


def read_at_zooms(paths: dict[str, Path], conditions: dict[str, np.ndarray]) -> Readings:
    zooms = sorted(set(itertools.chain.from_iterable(CANDIDATES)))
    out: Readings = {}
    for network, path in paths.items():
        out[network] = {condition: {} for condition in conditions}
        for zoom in zooms:
            classifier = EmotionClassifier.load(path, routed=False, framings=(zoom,))
            for condition, faces in conditions.items():
                out[network][condition][zoom] = classifier.predict(list(faces))
    return out


def score(
    labels: np.ndarray,
    readings: Readings,
    to_calls: dict[str, np.ndarray],
    clean: tuple[float, ...],
    calls: tuple[float, ...] | None,
) -> dict[str, float]:
    """Valid accuracy per condition when the clean network reads at ``clean`` and the call
    network (if any) at ``calls``."""
    result = {}
    for condition, by_zoom in readings["clean"].items():
        probs = average_readings([by_zoom[z] for z in clean])
        if calls is not None:
            calls_probs = average_readings([readings["calls"][condition][z] for z in calls])
            probs = np.where(to_calls[condition][:, None], calls_probs, probs)
        result[condition] = round(float((probs.argmax(axis=1) == labels).mean()), 4)
    return result


Scored = list[tuple[float, int, tuple[float, ...], tuple[float, ...] | None, dict[str, float]]]


def score_candidates(labels: np.ndarray, readings: Readings, to_calls: dict[str, np.ndarray]) -> Scored:
    """(mean accuracy, -cost, clean framings, call framings, accuracy per condition) for every
    candidate (pair of candidates, when there is a call network); the cost is network runs a face."""
    routed = "calls" in readings
    scored: Scored = []
    for clean, calls in itertools.product(CANDIDATES, CANDIDATES if routed else (None,)):
        accuracy = score(labels, readings, to_calls, clean, calls)
        cost = len(clean) + (len(calls) if calls else 0)
        scored.append((float(np.mean(list(accuracy.values()))), -cost, clean, calls, accuracy))
    return scored


def best_of(scored: Scored) -> tuple[float, int, tuple[float, ...], tuple[float, ...] | None, dict[str, float]]:
    """The cheapest candidate (fewest network runs a face) whose mean accuracy is within
    ``MIN_GAIN`` of the best: more runs a face must buy more than Valid's noise."""
    top = max(row[0] for row in scored)
    return max((row for row in scored if row[0] >= top - MIN_GAIN), key=lambda row: (row[1], row[0]))


def fit_framings(model: Path, data: Path) -> dict[str, object]:
    """Score every candidate on Valid, write the best into the metadata; returns the figures."""
    _, metadata = read_model(model)
    faces, labels = majority_faces(load_split(data, "valid"))
    conditions = dict(under_conditions(faces))
    paths = {"clean": model}
    to_calls: dict[str, np.ndarray] = {}
    routing = metadata.get("routing")
    if isinstance(routing, dict):
        paths["calls"] = read_calls_network(model, metadata)[0]
        gate = QualityGate.from_json(routing["gate"])
        # Valid's faces are already the networks' 48x48 input: the gate reads them as its fit did.
        to_calls = {c: gate.degraded(x) for c, x in conditions.items()}
    scored = score_candidates(labels, read_at_zooms(paths, conditions), to_calls)
    best = best_of(scored)
    figures: dict[str, object] = {
        "fitted_on": "FER2013Valid majority-labelled faces, clean and under each ml.training.degrade condition",
        "criterion": "mean accuracy over the conditions, each face read by the network the gate sends it to",
        "candidates": [
            {
                "clean": list(clean),
                **({"calls": list(calls)} if calls is not None else {}),
                "valid_mean_accuracy": round(mean, 4),
                "valid_accuracy": accuracy,
            }
            for mean, _, clean, calls, accuracy in scored
        ],
    }
    _write(model, best[2], figures)
    if best[3] is not None:
        _write(paths["calls"], best[3], None)  # the figures are the pair's: recorded once, above
    return {"clean": list(best[2]), "calls": list(best[3]) if best[3] else None, **figures}


def _write(path: Path, framings: tuple[float, ...], figures: dict[str, object] | None) -> None:
    meta_path = metadata_path(path)
    meta = json.loads(meta_path.read_text())
    meta["framings"] = list(framings)
    if figures is not None:
        meta["framings_fit"] = figures
    write_json(meta_path, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path, help="FER+ root")
    parser.add_argument("--model", default=DEFAULT_MODEL, type=Path, help="export to fit (rewritten in place)")
    args = parser.parse_args(argv)
    result = fit_framings(args.model, args.data)
    print(json.dumps({k: result[k] for k in ("clean", "calls")}))
    for row in result["candidates"]:  # type: ignore[attr-defined]
        print(json.dumps(row))


if __name__ == "__main__":
    main()
