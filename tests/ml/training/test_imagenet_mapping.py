"""The folded-BN ImageNet arrays really are MobileNetV2: the Keras network loaded from them agrees
with the int8 TFLite model they came from on real photos (frames of the sample videos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ml.training.model import imagenet_classifier


def _photos(videos: Path, count: int) -> np.ndarray:
    photos = []
    for path in sorted(videos.glob("*.mp4")) + sorted(videos.glob("*.mov")):
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read()
        capture.release()
        if ok:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            photos.append(cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA))
        if len(photos) == count:
            break
    return np.stack(photos).astype(np.float32) / 127.5 - 1.0


def test_keras_mapping_agrees_with_int8_tflite(shared_dir: Path, videos_dir: Path) -> None:
    weights = shared_dir / "weights" / "mobilenetv2_imagenet"
    photos = _photos(videos_dir, 10)
    keras_probs = imagenet_classifier(weights / "mobilenet_v2_1.0_224_imagenet_dequant.npz").predict(photos, verbose=0)

    interpreter = tf.lite.Interpreter(str(weights / "mobilenet_v2_1.0_224_imagenet_int8.tflite"))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = source["quantization"]
    limits = np.iinfo(source["dtype"])
    out_scale, out_zero = target["quantization"]
    tflite_probs = []
    for photo in photos:
        quantized = np.clip(np.round(photo / scale + zero_point), limits.min, limits.max).astype(source["dtype"])
        interpreter.set_tensor(source["index"], quantized[None])
        interpreter.invoke()
        raw = interpreter.get_tensor(target["index"])[0].astype(np.float32)
        tflite_probs.append((raw - out_zero) * out_scale)
    tflite_top1 = np.stack(tflite_probs).argmax(axis=1)

    keras_top1 = keras_probs.argmax(axis=1)
    keras_top5 = np.argsort(-keras_probs, axis=1)[:, :5]
    agreement = float(np.mean(keras_top1 == tflite_top1))
    assert agreement >= 0.7, f"top-1 agreement {agreement:.0%} on {len(photos)} photos"
    assert all(t in top5 for t, top5 in zip(tflite_top1, keras_top5, strict=True))
    # Whole distributions, not just the argmax: total variation distance per photo stays small
    # (a wrong transpose or BN mapping gives unrelated distributions, distance near 1).
    distance = 0.5 * np.abs(keras_probs - np.stack(tflite_probs)).sum(axis=1)
    assert float(np.median(distance)) < 0.3, distance
