"""FER+ test accuracy per call condition: the clean network, the call network, and the routed pair.

    python bench/quality_routing.py                      # the shipped pair
    python bench/quality_routing.py --clean A.onnx --calls B.onnx

The shipped model routes each face to a clean-trained or a call-trained network by a quality gate
(``ml.quality``, fitted on FER+ Valid by ``ml.training.routing``). This bench shows what that buys
against each network alone on the same degraded test faces (``ml.training.degrade``): the routed
pair should read clean faces as the clean network does and degraded ones nearly as the call
network does. Given two single-network exports, the gate is fitted on Valid here first, as the
recipe fits it; test faces are only scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, read_model
from ml.quality import QualityGate
from ml.training.routing import fit_gate, mean_drop, readings, routed_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path)
    parser.add_argument("--clean", type=Path, default=None, help="clean-trained single-network export")
    parser.add_argument("--calls", type=Path, default=None, help="call-condition single-network export")
    args = parser.parse_args()

    if (args.clean is None) != (args.calls is None):
        parser.error("give both --clean and --calls, or neither for the shipped pair")
    if args.clean is None:
        routing = read_model(DEFAULT_MODEL)[1].get("routing")
        if not isinstance(routing, dict):
            parser.error(f"{DEFAULT_MODEL} routes nothing: give --clean and --calls")
        clean_path, calls_path = DEFAULT_MODEL, DEFAULT_MODEL.parent / str(routing["calls_model"])
        gate: QualityGate | None = QualityGate.from_json(routing["gate"])
    else:
        clean_path, calls_path, gate = args.clean, args.calls, None
    clean, calls = EmotionClassifier.load(clean_path, routed=False), EmotionClassifier.load(calls_path)
    if gate is None:
        gate = fit_gate(*readings(args.data, "valid", clean, calls))

    labels, test = readings(args.data, "test", clean, calls)
    columns = {
        "clean network": {c: float((p.argmax(1) == labels).mean()) for c, (_, p, _) in test.items()},
        "call network": {c: float((p.argmax(1) == labels).mean()) for c, (_, _, p) in test.items()},
        f"routed (threshold {gate.threshold})": routed_accuracy(labels, test, gate),
    }
    print(f"FER+ test, {len(labels)} faces; accuracy per condition")
    print(f"{'condition':<16}" + "".join(f"{name:>30}" for name in columns))
    for condition in test:
        print(f"{condition:<16}" + "".join(f"{column[condition]:>30.4f}" for column in columns.values()))
    print(f"{'mean drop':<16}" + "".join(f"{mean_drop(column):>30.2f}" for column in columns.values()))


if __name__ == "__main__":
    main()
