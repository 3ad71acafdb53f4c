"""Export the trained Keras network to the ONNX file ONNX Runtime serves, and prove parity.

The exported graph is the whole serving function: 48x48 gray face in [0, 255] -> probabilities.
Temperature scaling (and flip test-time augmentation, when chosen) is baked in, so
:class:`ml.classifier.EmotionClassifier` has no numerical code of its own to get wrong.

    python -m ml.training.export --run runs/emotion --out ml/weights
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf

from ml import EMOTIONS
from ml.classifier import DEFAULT_MODEL
from ml.training.model import INPUT_SIZE
from ml.training.model_files import write_model

FP16_MIN_ELEMENTS = 256
OPSET = 17


def serving_function(
    model: keras.Model, *, temperature: float, flip_tta: bool
) -> tf.types.experimental.PolymorphicFunction:
    spec = tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 1), tf.float32, name="face")

    @tf.function(input_signature=[spec])
    def serve(face: tf.Tensor) -> tf.Tensor:
        logits = model(face, training=False)
        if flip_tta:
            logits = (logits + model(tf.reverse(face, axis=[2]), training=False)) / 2.0
        return tf.identity(tf.nn.softmax(logits / temperature, axis=-1), name="probs")

    return serve


def store_weights_as_fp16(proto: onnx.ModelProto) -> None:
    """Halve the file: large float32 weights are stored as float16, each behind a Cast to float32.

    ONNX Runtime folds those Casts into float32 constants when it loads the model, so inference
    still runs in float32 at unchanged speed; only the weights carry float16 rounding (probabilities
    move by a few 1e-3 at most, measured by the parity check).
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for initializer in list(graph.initializer):
        array = numpy_helper.to_array(initializer)
        if array.dtype != np.float32 or array.size < FP16_MIN_ELEMENTS:
            continue
        stored = f"{initializer.name}__fp16"
        graph.initializer.remove(initializer)
        graph.initializer.append(numpy_helper.from_array(array.astype(np.float16), stored))
        casts.append(
            helper.make_node("Cast", [stored], [initializer.name], to=TensorProto.FLOAT, name=f"{stored}_cast")
        )
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


TOOLCHAIN = ("tensorflow-cpu", "keras", "tf2onnx", "onnx", "protobuf", "numpy")


def toolchain_versions() -> dict[str, str]:
    """The versions that shape an export's graph (node names, folded constants), recorded in its
    metadata: requirements-train.lock pins them so that a retrained export can match."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in TOOLCHAIN:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def export_onnx(
    model: keras.Model,
    out_dir: Path,
    *,
    temperature: float,
    flip_tta: bool,
    metadata: dict[str, object],
    fp16_weights: bool = True,
) -> Path:
    """Write ``emotion.onnx`` and ``emotion.json`` atomically; returns the ONNX path."""
    import tf2onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    function = serving_function(model, temperature=temperature, flip_tta=flip_tta)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=OPSET)
    if fp16_weights:
        store_weights_as_fp16(proto)
    onnx_path = out_dir / DEFAULT_MODEL.name
    meta = {
        "labels": list(EMOTIONS),
        "input": {"name": proto.graph.input[0].name, "size": INPUT_SIZE, "channels": 1, "range": [0, 255]},
        "output": proto.graph.output[0].name,
        "temperature": temperature,
        "flip_tta": flip_tta,
        "weights_storage": "float16" if fp16_weights else "float32",
        "toolchain": toolchain_versions(),
        **metadata,
    }
    write_model(proto, onnx_path, meta)
    return onnx_path


def parity_gap(model: keras.Model, onnx_path: Path, faces: np.ndarray, *, temperature: float, flip_tta: bool) -> float:
    """Largest absolute probability difference between Keras and ONNX Runtime on ``faces``."""
    import onnxruntime as ort

    expected = serving_function(model, temperature=temperature, flip_tta=flip_tta)(tf.constant(faces)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: faces})[0]
    return float(np.abs(expected - actual).max())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a training run to ONNX for serving.")
    parser.add_argument("--run", required=True, type=Path, help="training run directory (final.keras, result.json)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights")
    parser.add_argument("--no-flip-tta", action="store_true", help="serve one pass instead of plain + mirrored")
    args = parser.parse_args(argv)
    onnx_path, gap = export_run(args.run, args.out, flip_tta=not args.no_flip_tta)
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB); max |keras - onnx| = {gap:.2e}")


def export_run(run: Path, out: Path, *, flip_tta: bool) -> tuple[Path, float]:
    """Export a finished training run directory; returns the ONNX path and the parity gap."""
    model = keras.models.load_model(run / "final.keras", compile=False)
    result = json.loads((run / "result.json").read_text())
    config = json.loads((run / "config.json").read_text())
    onnx_path = export_onnx(
        model,
        out,
        temperature=float(result["temperature"]),
        flip_tta=flip_tta,
        metadata={"training": {"config": config, "result": result}},
    )
    faces = np.random.default_rng(0).integers(0, 256, (16, INPUT_SIZE, INPUT_SIZE, 1)).astype(np.float32)
    return onnx_path, parity_gap(model, onnx_path, faces, temperature=float(result["temperature"]), flip_tta=flip_tta)


if __name__ == "__main__":
    main()
