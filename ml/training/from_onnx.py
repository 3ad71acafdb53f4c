"""Recover the Keras network's weights from an exported ONNX model.

Fine-tuning starts from a trained network, and the one the project ships is the ONNX export,
not a Keras checkpoint (runs/ is not committed). tf2onnx folded every BatchNorm into the
convolution before it (kernel scaled, shift as a bias), which is the same shape of data as the
folded-BN ImageNet arrays: each kernel goes back to Keras layout and each BatchNorm becomes the
affine shift gamma=1, beta=bias, mean=0, var=1-eps. The result computes the exported function
(``tests/ml/training/test_recipe.py`` checks the probabilities) and fine-tunes like any checkpoint
after :func:`ml.training.model.calibrate_batchnorm`.

    python -m ml.training.from_onnx ml/weights/emotion.onnx runs/emotion-v1.weights.h5
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import keras
import numpy as np

from ml.training.model import backbone_of, build_emotion_model, member_name

_LAYER = re.compile(r"/([A-Za-z0-9_]+?)_1/(?:convolution|depthwise)")
_MEMBER_SCOPE = re.compile(r"/member_\d+_1/")


def _onnx_constants(graph: object) -> dict[str, np.ndarray]:
    """Every constant tensor by name, float16 storage (behind a Cast) already widened."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}  # type: ignore[attr-defined]
    for node in graph.node:  # type: ignore[attr-defined]
        if node.op_type == "Cast" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]].astype(np.float32)
        elif node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _bias_after(graph: object, output: str, constants: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) of the Mul/Add chain a bias-less convolution feeds (the unfolded BN tail)."""
    consumers = {i: n for n in graph.node for i in n.input}  # type: ignore[attr-defined]
    scale: np.ndarray | None = None
    shift: np.ndarray | None = None
    while output in consumers and consumers[output].op_type in ("Mul", "Add"):
        node = consumers[output]
        const = next((constants[i] for i in node.input if i in constants), None)
        if const is None:
            break
        const = const.reshape(-1).astype(np.float32)
        if node.op_type == "Mul":
            scale = const if scale is None else scale * const
            shift = None if shift is None else shift * const
        else:
            shift = const if shift is None else shift + const
        output = node.output[0]
    if shift is None:
        raise ValueError(f"no BatchNorm shift found after {output}")
    return (scale if scale is not None else np.ones_like(shift)), shift


def _in_member(node: object, member: int | None) -> bool:
    """Whether ``node`` (a Conv or MatMul) uses the weights of ensemble member ``member``.

    tf2onnx keeps the Keras scope (``.../member_0_1/...``) in node and constant names. The weight's
    name decides where it has one: the export merges computations the members share (their
    identical preprocessing), so a member's first convolution may carry another member's node
    name. Folded constants (``const_fold_opt__N``) have none; then the node's name decides.
    With ``member`` None, every node belongs."""
    if member is None:
        return True
    weight = node.input[1]  # type: ignore[attr-defined]
    owner = weight if _MEMBER_SCOPE.search(weight) else node.name  # type: ignore[attr-defined]
    return f"/{member_name(member)}_1/" in owner


def load_onnx_weights(model: keras.Model, onnx_path: Path, member: int | None = None) -> int:
    """Set ``model`` (from :func:`build_emotion_model`) to the ONNX export's weights; returns the
    number of convolution layers set. The export may run the network twice (flip averaging),
    sharing weights, so the first occurrence of each layer is used. An ensemble export
    (:mod:`ml.training.ensemble`) holds several networks: ``member`` picks one."""
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    if member is None and any(_MEMBER_SCOPE.search(node.name) for node in graph.node):
        raise ValueError(f"{onnx_path} is an ensemble export: choose one of its members")
    constants = _onnx_constants(graph)
    backbone = backbone_of(model)
    done: set[str] = set()
    for node in graph.node:
        if node.op_type != "Conv" or not _in_member(node, member):
            continue
        match = _LAYER.search(node.name) or _LAYER.search(node.input[1])
        if match is None:
            raise ValueError(f"cannot tell which layer ONNX node {node.name} is")
        name = match.group(1)
        if name in done:
            continue
        kernel = constants[node.input[1]].astype(np.float32)
        if len(node.input) > 2:
            scale, bias = np.ones(kernel.shape[0], np.float32), constants[node.input[2]].astype(np.float32)
        else:
            scale, bias = _bias_after(graph, node.output[0], constants)
        kernel = kernel * scale.reshape(-1, 1, 1, 1)
        layer = backbone.get_layer(name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([np.transpose(kernel, (2, 3, 0, 1))])  # [C,1,kh,kw] -> [kh,kw,C,1]
        else:
            layer.set_weights([np.transpose(kernel, (2, 3, 1, 0))])  # [out,in,kh,kw] -> [kh,kw,in,out]
        bn = next(
            backbone.get_layer(candidate)
            for candidate in (f"{name}_BN", f"{name}_bn", f"bn_{name}")
            if candidate in {layer.name for layer in backbone.layers}
        )
        channels = bias.shape[0]
        bn.set_weights(
            [
                np.ones(channels, np.float32),
                bias,
                np.zeros(channels, np.float32),
                np.full(channels, 1.0 - bn.epsilon, np.float32),
            ]
        )
        done.add(name)
    matmul = next(
        n for n in graph.node if n.op_type == "MatMul" and "emotion_logits" in n.name and _in_member(n, member)
    )
    add = next(n for n in graph.node if n.op_type == "Add" and n.input[0] == matmul.output[0])
    model.get_layer("emotion_logits").set_weights(
        [constants[matmul.input[1]].astype(np.float32), constants[add.input[1]].reshape(-1).astype(np.float32)]
    )
    return len(done)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", help="exported emotion model (emotion.onnx)")
    parser.add_argument("out", help="Keras weights file to write (.weights.h5)")
    parser.add_argument("--resolution", type=int, default=96)
    args = parser.parse_args(argv)
    model = build_emotion_model(args.resolution)
    print(f"{load_onnx_weights(model, Path(args.onnx))} convolution layers recovered")
    model.save_weights(args.out)


if __name__ == "__main__":
    main()
