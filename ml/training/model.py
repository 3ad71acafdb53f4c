"""The Keras emotion network: MobileNetV2 backbone, 8-class head, ImageNet initialisation.

The network takes what the serving code hands it, a 48x48 grayscale face in [0, 255], and does
its own upsampling and normalisation inside the graph. Training data (FER's 48x48 tiles) and video
crops (downscaled to 48x48 by the classifier) therefore pass through one identical path, which is
what keeps the model honest on crops from real frames.

ImageNet weights come from the folded-BatchNorm float arrays in
``shared/weights/mobilenetv2_imagenet`` (see its README): each TFLite kernel is transposed to
Keras layout and the folded bias becomes the BatchNorm shift.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from ml import EMOTIONS

INPUT_SIZE = 48


def build_backbone(resolution: int) -> keras.Model:
    """MobileNetV2 (alpha 1.0) without its classifier; pooled 1280-d features."""
    return keras.applications.MobileNetV2(
        input_shape=(resolution, resolution, 3),
        alpha=1.0,
        include_top=False,
        weights=None,
        pooling="avg",
    )


def build_emotion_model(resolution: int = 96, dropout: float = 0.2, name: str = "emotion_mobilenetv2") -> keras.Model:
    """48x48x1 face in [0, 255] -> 8 logits. Softmax (and temperature) are applied by callers so
    the loss can work on logits and the export can bake calibration in."""
    face = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    x = keras.layers.Resizing(resolution, resolution, interpolation="bilinear", name="upsample")(face)
    x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit_range")(x)
    features = build_backbone(resolution)(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(features)
    logits = keras.layers.Dense(len(EMOTIONS), name="emotion_logits")(x)
    return keras.Model(face, logits, name=name)


def member_name(index: int) -> str:
    """The name network ``index`` carries inside an ensemble (ml.training.ensemble), which its
    ONNX export keeps in node names."""
    return f"member_{index}"


def backbone_of(model: keras.Model) -> keras.Model:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def _conv_layer_name(bn_name: str) -> str:
    """``block_1_expand_BN`` -> ``block_1_expand``; ``bn_Conv1`` -> ``Conv1``; ``Conv_1_bn`` -> ``Conv_1``."""
    if bn_name == "bn_Conv1":
        return "Conv1"
    for suffix in ("_BN", "_bn"):
        if bn_name.endswith(suffix):
            return bn_name[: -len(suffix)]
    raise ValueError(f"not a BatchNorm name: {bn_name}")


def load_imagenet_npz(backbone: keras.Model, npz_path: Path) -> int:
    """Map the folded-BN ImageNet arrays onto a Keras MobileNetV2; returns the layers set.

    BN is folded into the kernels, so each BatchNorm becomes an affine shift: gamma=1, beta=bias,
    mean=0, var=1-eps (so that 1/sqrt(var+eps) is exactly 1).
    """
    arrays = np.load(npz_path)
    loaded = 0
    for key in arrays.files:
        if not key.endswith("/kernel"):
            continue
        bn_name = key[: -len("/kernel")]
        if bn_name == "predictions":
            continue
        kernel, bias = arrays[key], arrays[f"{bn_name}/bias"]
        conv = backbone.get_layer(_conv_layer_name(bn_name))
        bn = backbone.get_layer(bn_name)
        # Both layouts become Keras layout by moving axis 0 last: conv [out,kh,kw,in] ->
        # [kh,kw,in,out]; depthwise [1,kh,kw,c] -> [kh,kw,c,1].
        conv.set_weights([np.transpose(kernel, (1, 2, 3, 0)).astype(np.float32)])
        channels = bias.shape[0]
        bn.set_weights(
            [
                np.ones(channels, np.float32),
                bias.astype(np.float32),
                np.zeros(channels, np.float32),
                np.full(channels, 1.0 - bn.epsilon, np.float32),
            ]
        )
        loaded += 1
    return loaded


def imagenet_classifier(npz_path: Path) -> keras.Model:
    """The full 1000-class ImageNet network from the npz, to prove the mapping against TFLite."""
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, weights=None)
    load_imagenet_npz(model, npz_path)
    arrays = np.load(npz_path)
    model.get_layer("predictions").set_weights(
        [arrays["predictions/kernel"].T.astype(np.float32), arrays["predictions/bias"].astype(np.float32)]
    )
    return model


def calibrate_batchnorm(model: keras.Model, faces: Iterable[np.ndarray]) -> None:
    """Give every BatchNorm the real statistics of its input without changing the function.

    The folded weights leave BN with mean 0 and variance 1, which is true in no layer: in training
    mode BN would normalise with batch statistics and the pretrained function would be lost on the
    first step. With measured mean m and variance v, setting gamma=sqrt(v+eps), beta=bias+m,
    moving mean m, moving variance v keeps inference output identical (x + bias) while batch
    statistics now match the moving ones, so fine-tuning starts from the ImageNet function.
    """
    backbone = backbone_of(model)
    bns = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(backbone.input, [bn.input for bn in bns])
    preprocess = keras.Model(model.input, model.get_layer("to_unit_range").output)
    sums = [np.zeros(bn.input.shape[-1], np.float64) for bn in bns]
    squares = [np.zeros(bn.input.shape[-1], np.float64) for bn in bns]
    counts = [0] * len(bns)
    for batch in faces:
        outputs = probe(preprocess(batch, training=False), training=False)
        for i, out in enumerate(outputs):
            flat = np.asarray(out, np.float64).reshape(-1, out.shape[-1])
            sums[i] += flat.sum(axis=0)
            squares[i] += (flat**2).sum(axis=0)
            counts[i] += flat.shape[0]
    for bn, total, total_sq, n in zip(bns, sums, squares, counts, strict=True):
        _gamma, beta, _mean, _var = bn.get_weights()
        mean = total / n
        var = np.maximum(total_sq / n - mean**2, 1e-6)
        bn.set_weights(
            [
                np.sqrt(var + bn.epsilon).astype(np.float32),
                (beta + mean).astype(np.float32),
                mean.astype(np.float32),
                var.astype(np.float32),
            ]
        )


def refresh_batchnorm_statistics(model: keras.Model, faces: np.ndarray, *, batch_size: int = 64) -> None:
    """Replace every BatchNorm's moving statistics by the exact average over ``faces``.

    Keras' MobileNetV2 keeps moving statistics with momentum 0.999, a memory of ~1,000 steps
    (2+ epochs here). While fine-tuning moves the weights quickly those statistics lag behind them,
    and inference-mode accuracy reads ~15 points low (measured on FER+ Valid after 2 epochs: 65%
    with the lagging statistics, 80% with refreshed ones). A forward pass in training mode with
    momentum k/(k+1) at batch k averages the batch statistics exactly; weights do not change.
    """
    bns = [layer for layer in backbone_of(model).layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [bn.momentum for bn in bns]
    try:
        for k, start in enumerate(range(0, len(faces), batch_size)):
            for bn in bns:
                bn.momentum = k / (k + 1)
            model(faces[start : start + batch_size], training=True)
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
