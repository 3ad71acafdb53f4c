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
import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from ml.training.model import backbone_of, build_emotion_model, member_name

if TYPE_CHECKING:
    from onnx import GraphProto, NodeProto

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


def _member_of(node: NodeProto) -> str | None:
    """The ensemble member scope (``/member_N_1/``) of a Conv or MatMul: its weight's, where the
    weight's name has one (the export merges computations the members share, such as their
    identical preprocessing, so a member's first convolution may carry another member's node
    name), else its node's."""
    for text in (node.input[1], node.name):
        match = _MEMBER_SCOPE.search(text)
        if match:
            return match.group(0)
    return None


def _resolve_convs(graph: GraphProto, conv_layers: list[str]) -> list[tuple[NodeProto, str, str | None]]:
    """Each Conv node of the graph with the Keras layer it computes and the ensemble member scope
    (``/member_N_1/``) it belongs to, if any.

    tf2onnx keeps the Keras scope in node and constant names where it can. A folded weight
    (``const_fold_opt__N``, a depthwise kernel reshaped at export) on a node renamed ``Conv__N``
    has neither: such a convolution is the layer that follows, in the backbone's order, the
    convolution that feeds it, and belongs to that one's member."""
    producers = {output: node for node in graph.node for output in node.output}
    following = dict(itertools.pairwise(conv_layers))
    resolved: dict[str, tuple[str, str | None]] = {}  # Conv node name -> (layer, member scope)
    out: list[tuple[NodeProto, str, str | None]] = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        match = _LAYER.search(node.name) or _LAYER.search(node.input[1])
        member = _member_of(node)
        if match is not None:
            layer = match.group(1)
        else:
            feeder = _feeding_conv(node, producers)
            if feeder is None or feeder.name not in resolved or resolved[feeder.name][0] not in following:
                raise ValueError(f"cannot tell which layer ONNX node {node.name} is")
            feeder_layer, feeder_member = resolved[feeder.name]
            layer, member = following[feeder_layer], member or feeder_member
        resolved[node.name] = (layer, member)
        out.append((node, layer, member))
    return out


def _feeding_conv(node: NodeProto, producers: dict[str, NodeProto]) -> NodeProto | None:
    """The nearest Conv upstream along each node's first input (activations, padding, casts)."""
    name = node.input[0]
    while name in producers:
        upstream = producers[name]
        if upstream.op_type == "Conv":
            return upstream
        name = upstream.input[0]
    return None


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
    conv_layers = [
        layer.name for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
    ]
    scope = None if member is None else f"/{member_name(member)}_1/"
    done: set[str] = set()
    for node, name, node_member in _resolve_convs(graph, conv_layers):
        if (scope is not None and node_member != scope) or name in done:
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
        n
        for n in graph.node
        if n.op_type == "MatMul" and "emotion_logits" in n.name and (scope is None or _member_of(n) == scope)
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
