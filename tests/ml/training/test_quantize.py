"""The int8 copy of an export (``ml.training.quantize``): same function, measured against its source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from ml.classifier import DEFAULT_MODEL, EmotionClassifier, metadata_path, read_model
from ml.training.data import load_split, majority_faces
from ml.training.quantize import calibration_faces, float32_graph, quantize_export

VALID_FACES = 400


def _run(model: bytes, faces: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: faces})[0])


def test_float32_graph_is_the_served_function_without_float16_storage() -> None:
    proto = onnx.load(DEFAULT_MODEL)
    widened = float32_graph(proto)
    assert not [t for t in widened.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert not [n for n in widened.graph.node if n.op_type == "Cast"]
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(
        _run(widened.SerializeToString(), faces), _run(proto.SerializeToString(), faces), atol=1e-5
    )


def test_calibration_faces_are_train_faces_half_of_them_degraded(ferplus_dir: Path) -> None:
    faces = calibration_faces(ferplus_dir, count=64)
    assert faces.shape == (64, 48, 48, 1) and faces.dtype == np.float32
    known = {face.tobytes() for face in load_split(ferplus_dir, "train").images}
    as_train = [faces[i, ..., 0].astype(np.uint8).tobytes() in known for i in range(64)]
    assert all(as_train[0::2]) and sum(as_train[1::2]) < 8  # degraded ones are no longer Train tiles
    np.testing.assert_array_equal(calibration_faces(ferplus_dir, count=64), faces)  # seeded


def test_quantized_pair_keeps_the_gate_and_reads_valid_faces_as_the_float_pair(
    tmp_path: Path, ferplus_dir: Path
) -> None:
    served = quantize_export(DEFAULT_MODEL, ferplus_dir, tmp_path, count=128)
    assert served == tmp_path / "emotion_int8.onnx"
    _, meta = read_model(served)
    _, source = read_model(DEFAULT_MODEL)
    assert meta["weights_storage"] == "int8" and meta["temperature"] == source["temperature"]
    assert meta["quantization"]["from_sha256"] == source["sha256"]  # type: ignore[index]
    assert meta["routing"]["gate"] == source["routing"]["gate"]  # type: ignore[index]
    calls_meta = json.loads(metadata_path(tmp_path / meta["routing"]["calls_model"]).read_text())  # type: ignore[index]
    assert calls_meta["quantization"]["from_sha256"] == source["routing"]["calls_sha256"]  # type: ignore[index]
    assert sum(n.op_type == "QuantizeLinear" for n in onnx.load(served).graph.node) > 50

    int8, float_pair = EmotionClassifier.load(served), EmotionClassifier.load()
    assert int8.name.startswith("emotion-mobilenetv2-ferplus-int8@")
    faces, labels = majority_faces(load_split(ferplus_dir, "valid"))
    crops = list(faces[:VALID_FACES])
    np.testing.assert_array_equal(int8.degraded(crops), float_pair.degraded(crops))  # the gate reads the face
    p8, p32 = int8.predict(crops), float_pair.predict(crops)
    assert float((p8.argmax(1) == p32.argmax(1)).mean()) >= 0.93
    accuracy = [float((p.argmax(1) == labels[:VALID_FACES]).mean()) for p in (p8, p32)]
    assert abs(accuracy[0] - accuracy[1]) <= 0.03, accuracy
