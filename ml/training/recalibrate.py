"""Refit the softmax temperature of an exported model on FER+ Valid, without retraining.

Temperature scaling leaves every prediction's ranking unchanged, so a change of calibration
target (``votes`` → ``majority``, see ``ml.training.train.calibration_targets``) needs no new
training run: the logits are recovered from the export's own probabilities (``T · log p``, equal
to the logits up to a per-face constant, to which softmax is blind), the temperature is fitted as
training would fit it, and the one scale constant in front of the graph's softmax is rewritten.
The weights are untouched; ``emotion.json`` gets the new temperature and sha256.

    python -m ml.training.recalibrate --data ../shared/data/ferplus --calibrate-to majority
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path
from ml.training.data import load_split, soft_labels
from ml.training.model_files import write_model
from ml.training.train import calibration_targets, fit_temperature


def softmax_scale(model: onnx.ModelProto) -> onnx.TensorProto:
    """The constant that multiplies (or divides) the logits right before the final softmax."""
    producers = {output: node for node in model.graph.node for output in node.output}
    (softmax,) = [node for node in model.graph.node if node.op_type == "Softmax"]
    scale = producers.get(softmax.input[0])
    if scale is None or scale.op_type not in ("Mul", "Div"):
        raise ValueError("the export has no scale in front of its softmax")
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    constants = [initializers[name] for name in scale.input if name in initializers]
    if len(constants) != 1 or scale.op_type != "Mul":
        raise ValueError("expected softmax(logits * constant) in the export")
    return constants[0]


def recalibrate(model_path: Path, data: Path, calibrate_to: str) -> float:
    """Rewrite the export's temperature; returns the new one."""
    meta_path = metadata_path(model_path)
    meta = json.loads(meta_path.read_text())
    old_t = float(meta["temperature"])
    valid = load_split(data, "valid")
    # One reading per face: only then is T * log p the network's logits (up to a constant).
    probs = EmotionClassifier.load(model_path, routed=False, framings=(1.0,)).predict(list(valid.images))
    logits = old_t * np.log(np.clip(probs, 1e-12, None))
    new_t = fit_temperature(*calibration_targets(logits, soft_labels(valid.votes), valid.votes, calibrate_to))

    model = onnx.load(str(model_path))
    constant = softmax_scale(model)
    value = numpy_helper.to_array(constant)
    constant.CopyFrom(numpy_helper.from_array((value * old_t / new_t).astype(value.dtype), constant.name))
    meta["temperature"] = new_t
    meta["calibration"] = {"target": calibrate_to, "fitted_on": "FER2013Valid", "previous_temperature": old_t}
    write_model(model, model_path, meta)
    return new_t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER+ root with fer2013new.csv")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="exported ONNX model, rewritten in place")
    parser.add_argument("--calibrate-to", default="majority", choices=("votes", "majority"))
    args = parser.parse_args(argv)
    print(f"temperature {recalibrate(Path(args.model), Path(args.data), args.calibrate_to)}")


if __name__ == "__main__":
    main()
