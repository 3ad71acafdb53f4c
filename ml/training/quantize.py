"""An int8 copy of an export: static quantization calibrated on FER+ Train faces.

    python -m ml.training.quantize --model ml/weights/emotion.onnx --out runs/int8
    python bench/classifier.py --model runs/int8/emotion_int8.onnx     # against the float export
    emotrace evaluate --model runs/int8/emotion_int8.onnx             # accuracy, as for any model

The shipped model stays float: ml/MODEL_CARD.md ("Recipe changes tried") measures this copy of the
shipped pair at about twice the faces per second on CPUs with 8-bit dot-product instructions
(AVX-512 VNNI, AVX-VNNI), and 0.3 points lower on FER+ test, 1.4 lower on new people and with a
tenth more log loss; the video pipeline runs at its decoder's speed with the float pair, so the
speed buys nothing end to end. The command is here for deployments where the classifier is the
bottleneck, who can measure the trade on their own faces first.

Weights are quantized per output channel (symmetric int8), activations per tensor (uint8) with
ranges from the 99.999th percentile of what the calibration faces produce: a plain min/max lets
one extreme face stretch a range for all (FER+ Valid agreement with the float network 0.965 with
min/max, 0.972 with the percentile). Half the calibration faces are degraded by the conditions of
:mod:`ml.training.degrade`, so the ranges cover the blurred, compressed and noisy faces calls
deliver as well as sharp ones. Only FER+ Train faces are read.

A routed export (``ml.quality``) is quantized network by network, each calibrated the same way; the
int8 pair keeps the float pair's gate, which reads the input face and not the networks.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ml.classifier import read_calls_network, read_model
from ml.training.data import load_split, trainable_mask
from ml.training.degrade import CONDITIONS, degrade
from ml.training.model_files import write_model

CALIBRATION_FACES = 1024
CALIBRATION_BATCH = 64
PERCENTILE = 99.999
SEED = 1234
SUFFIX = "_int8"


def int8_path(model: Path, out_dir: Path) -> Path:
    """``emotion.onnx`` -> ``<out_dir>/emotion_int8.onnx``."""
    return out_dir / f"{model.stem}{SUFFIX}{model.suffix}"


def float32_graph(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Undo float16 weight storage (``export.store_weights_as_fp16``): the quantizer reads float32
    initializers, not Casts of float16 ones. Rounding to float16 already happened; the values are
    the served ones."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    graph = proto.graph
    halves = {t.name: t for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT16}
    widened: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in halves:
            widened[node.input[0]] = node.output[0]
        else:
            nodes.append(node)
    for name, output in widened.items():
        array = numpy_helper.to_array(halves[name]).astype(np.float32)
        graph.initializer.remove(halves[name])
        graph.initializer.append(numpy_helper.from_array(array, output))
    del graph.node[:]
    graph.node.extend(nodes)
    return proto


def calibration_faces(data: Path, *, count: int = CALIBRATION_FACES, seed: int = SEED) -> np.ndarray:
    """``count`` FER+ Train faces as the served graph's input, (N, 48, 48, 1) float32 in [0, 255];
    every second one under a degradation drawn from :data:`ml.training.degrade.CONDITIONS`."""
    split = load_split(data, "train")
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(trainable_mask(split.votes))
    faces = split.images[rng.choice(pool, size=min(count, len(pool)), replace=False)].copy()
    names = list(CONDITIONS)
    for i in range(1, len(faces), 2):
        condition = names[int(rng.integers(len(names)))]
        faces[i] = degrade(faces[i : i + 1], condition, seed=seed + i)[0]
    return faces.astype(np.float32)[..., None]


def quantize_network(
    source: Path, target: Path, faces: np.ndarray, *, routing: dict[str, object] | None = None
) -> dict[str, object]:
    """Write the int8 version of export ``source``'s own network to ``target`` (with its metadata,
    naming ``routing``'s call network when given); returns that metadata."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_bytes, meta = read_model(source)
    input_meta = meta.get("input")
    input_name = str(input_meta.get("name", "face")) if isinstance(input_meta, dict) else "face"

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = (
                faces[i : i + CALIBRATION_BATCH] for i in range(0, len(faces), CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory() as tmp:
        widened, prepared, quantized = (Path(tmp) / name for name in ("f32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(float32_graph(onnx.ModelProto.FromString(model_bytes)), widened)
        quant_pre_process(str(widened), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            Faces(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE},
        )
        proto = onnx.load(quantized)
    int8_meta = {k: v for k, v in meta.items() if k not in ("sha256", "routing", "weights_storage")}
    if routing is not None:
        int8_meta["routing"] = routing
    int8_meta["weights_storage"] = "int8"
    int8_meta["quantization"] = {
        "from_model": source.name,
        "from_sha256": meta.get("sha256"),
        "method": "static QDQ: weights int8 per output channel, activations uint8 per tensor",
        "activation_ranges": f"percentile {PERCENTILE}",
        "calibration": f"{len(faces)} FER2013Train faces, every second one under an ml.training.degrade condition",
        "seed": SEED,
    }
    return write_model(proto, target, int8_meta)


def quantize_export(model: Path, data: Path, out_dir: Path, *, count: int = CALIBRATION_FACES) -> Path:
    """The int8 version of ``model`` in ``out_dir``: one network, or both of a routed pair with the
    same gate. Returns the path to load."""
    _, meta = read_model(model)
    faces = calibration_faces(data, count=count)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = int8_path(model, out_dir)
    routing = meta.get("routing")
    calls_routing: dict[str, object] | None = None
    if isinstance(routing, dict):
        # The call network first: the pair exists once the first file names it.
        calls, _, _ = read_calls_network(model, meta)
        calls_target = int8_path(calls, out_dir)
        calls_meta = quantize_network(calls, calls_target, faces)
        calls_routing = {**routing, "calls_model": calls_target.name, "calls_sha256": calls_meta["sha256"]}
    quantize_network(model, target, faces, routing=calls_routing)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ml/weights/emotion.onnx", type=Path, help="float export (routed or not)")
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path, help="FER+ root (Train faces are read)")
    parser.add_argument("--out", required=True, type=Path, help="directory for the int8 export")
    parser.add_argument("--faces", default=CALIBRATION_FACES, type=int, help="calibration faces")
    args = parser.parse_args(argv)
    print(quantize_export(args.model, args.data, args.out, count=args.faces))


if __name__ == "__main__":
    main()
