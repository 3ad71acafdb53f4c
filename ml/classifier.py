"""The emotion classifier as served: the shipped ONNX model on ONNX Runtime.

    >>> from ml.classifier import EmotionClassifier
    >>> clf = EmotionClassifier.load()          # shipped weights, no network
    >>> probs = clf.predict([face_crop])        # (N, 8), rows sum to 1, order of ml.EMOTIONS

ONNX Runtime rather than TensorFlow: it is several times faster on CPU for this network and a
fraction of the install (bench/classifier.py measures both on the same batch). Everything numeric
(upsampling, normalisation, flip averaging, temperature, softmax) lives inside the ONNX graph; this
module only converts crops to what the graph expects, the same way training saw FER's tiles:
grayscale, area-downscaled to 48x48.

A model may route faces between two networks: its metadata then names a second export, the
network fine-tuned for call conditions, and the quality gate (``ml.quality``) that sends blurred,
low-resolution, compressed or noisy faces to it and the rest to the first. Each face is read by
one network, so routing costs one network a face plus the gate's four cheap measures.

A network's metadata may also name ``framings``: zooms around the crop at which each face is read,
the readings averaged (``ml.framings``). A network without them reads each face once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ml import EMOTIONS
from ml.framings import AS_TRAINED, average_readings, parse_framings, reframe
from ml.quality import QualityGate

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "emotion.onnx"


class ModelIntegrityError(ValueError):
    """The model file is not the one its metadata describes (a partial copy, or one of two files
    replaced without the other): serving it would attach the wrong temperature, labels and model
    name to every result."""


def metadata_path(model_path: Path) -> Path:
    """Where the export writes the model's metadata: beside it, same stem, ``.json``."""
    return model_path.with_suffix(".json")


def read_model(model_path: Path) -> tuple[bytes, dict[str, object]]:
    """The model's bytes and its metadata, after checking the bytes hash to the recorded sha256.

    The file is read once and those same bytes are hashed and handed to ONNX Runtime, so what was
    checked is what is served.
    """
    if not model_path.is_file():
        raise FileNotFoundError(f"emotion model not found: {model_path}")
    meta_path = metadata_path(model_path)
    if not meta_path.is_file():
        raise FileNotFoundError(f"emotion model metadata not found: {meta_path} (export writes it with the model)")
    metadata = json.loads(meta_path.read_text())
    model_bytes = model_path.read_bytes()
    digest = hashlib.sha256(model_bytes).hexdigest()
    recorded = metadata.get("sha256")
    if recorded != digest:
        raise ModelIntegrityError(f"{model_path}: sha256 {digest} does not match {recorded!r} recorded in {meta_path}")
    return model_bytes, metadata


def read_calls_network(model_path: Path, metadata: dict[str, object]) -> tuple[Path, bytes, dict[str, object]]:
    """The call-condition network a routed model's metadata names: its path, bytes and metadata,
    after checking it is the very file the pair was measured with and reads the same input."""
    routing = metadata.get("routing")
    if (
        not isinstance(routing, dict)
        or not isinstance(routing.get("calls_model"), str)
        or not isinstance(routing.get("gate"), dict)
    ):
        raise ValueError(f"{metadata_path(model_path)}: routing needs calls_model and gate")
    calls_path = model_path.parent / str(routing["calls_model"])
    calls_bytes, calls_metadata = read_model(calls_path)
    if calls_metadata.get("sha256") != routing.get("calls_sha256"):
        # Each file matches its own metadata, but not the pair this model was measured as.
        raise ModelIntegrityError(
            f"{calls_path}: sha256 {calls_metadata.get('sha256')} is not the call-condition network "
            f"{routing.get('calls_sha256')!r} recorded in {metadata_path(model_path)}"
        )
    if calls_metadata.get("input") != metadata.get("input") or calls_metadata.get("labels") != metadata.get("labels"):
        raise ValueError(f"{calls_path}: input or labels differ from {model_path}'s")
    return calls_path, calls_bytes, calls_metadata


class EmotionClassifier:
    """Face crops in, FER+ probabilities out. Thread-safe: ONNX Runtime sessions are."""

    def __init__(
        self,
        session: object,
        metadata: dict[str, object],
        *,
        batch_size: int = 64,
        calls_session: object | None = None,
        gate: QualityGate | None = None,
        framings: Sequence[float] | None = None,
        calls_framings: Sequence[float] | None = None,
    ) -> None:
        if (calls_session is None) != (gate is None):
            raise ValueError("a call-condition network and its quality gate come together")
        self._session = session
        self._calls_session = calls_session
        self.gate = gate
        self.framings = parse_framings(metadata.get("framings") if framings is None else list(framings))
        self.calls_framings = parse_framings(calls_framings)
        self.metadata = metadata
        self.batch_size = batch_size
        input_meta = metadata.get("input", {})
        self.input_size = int(input_meta.get("size", 48)) if isinstance(input_meta, dict) else 48
        labels = metadata.get("labels")
        if labels is not None and tuple(labels) != EMOTIONS:  # type: ignore[arg-type]
            raise ValueError(f"model labels {labels} differ from {EMOTIONS}")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        routed: bool = True,
        framings: Sequence[float] | None = None,
    ) -> EmotionClassifier:
        """Load the shipped model (or ``path``); ``threads`` caps ONNX Runtime's intra-op pool,
        so several workers on one machine do not oversubscribe its cores. ``routed=False`` serves
        the file's own network alone, ignoring a call-condition network its metadata names
        (training and benchmarks compare the two that way). ``framings`` replaces the zooms every
        network is read at (``(1.0,)``: once, as trained); by default each network's metadata
        says."""
        import onnxruntime as ort

        model_path = Path(path) if path is not None else DEFAULT_MODEL
        model_bytes, metadata = read_model(model_path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Two sessions take turns when faces are routed: a pool left spinning after its run would
        # hold the cores the other session needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        routing = metadata.get("routing")
        if not routed:
            return cls(session, {k: v for k, v in metadata.items() if k != "routing"}, framings=framings)
        if not isinstance(routing, dict):
            return cls(session, metadata, framings=framings)
        _, calls_bytes, calls_metadata = read_calls_network(model_path, metadata)
        calls_session = ort.InferenceSession(calls_bytes, options, providers=["CPUExecutionProvider"])
        gate = QualityGate.from_json(routing["gate"])
        return cls(
            session,
            metadata,
            calls_session=calls_session,
            gate=gate,
            framings=framings,
            calls_framings=calls_metadata.get("framings") if framings is None else framings,  # type: ignore[arg-type]
        )

    @property
    def name(self) -> str:
        """What an analysis records as its model: the networks' sha256 prefixes and, where a face
        is read more than once, the zooms (the same files read differently give other results)."""
        base = "emotion-mobilenetv2-ferplus" + ("-int8" if self.metadata.get("weights_storage") == "int8" else "")
        sha = str(self.metadata.get("sha256", ""))[:12]
        if not sha:
            return base
        routing = self.metadata.get("routing")
        name, readings = f"{base}@{sha}", [self.framings]
        if isinstance(routing, dict) and self.gate is not None:
            name += f"+{str(routing.get('calls_sha256', ''))[:12]}"
            readings.append(self.calls_framings)
        if any(framings != AS_TRAINED for framings in readings):
            name += "~zooms" + "+".join(",".join(f"{z:g}" for z in framings) for framings in readings)
        return name

    def preprocess(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """Crops of any size, gray (H, W) or BGR (H, W, 3) / BGRA (H, W, 4) -> (N, 48, 48, 1) float32."""
        size = self.input_size
        batch = np.empty((len(faces), size, size, 1), np.float32)
        for i, face in enumerate(faces):
            image = np.asarray(face)
            if image.ndim == 3 and image.shape[2] == 1:
                image = image[:, :, 0]
            if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
                raise ValueError(f"face {i}: expected (H, W), (H, W, 3) or (H, W, 4), got shape {image.shape}")
            if image.shape[0] == 0 or image.shape[1] == 0:
                raise ValueError(f"face {i}: empty crop {image.shape}")
            if image.dtype != np.uint8:
                image = np.clip(image, 0, 255).astype(np.uint8)
            if image.ndim == 3:
                code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
                image = cv2.cvtColor(image, code)
            # Area interpolation when shrinking approximates how FER's 48x48 tiles were made.
            interpolation = cv2.INTER_AREA if min(image.shape) >= size else cv2.INTER_LINEAR
            batch[i, :, :, 0] = cv2.resize(image, (size, size), interpolation=interpolation)
        return batch

    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 8) float32 probabilities in :data:`ml.EMOTIONS` order; N may be 0."""
        if len(faces) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        inputs = self.preprocess(faces)
        if self._calls_session is None or self.gate is None:
            return self._read(self._session, inputs, self.framings)
        degraded = self.gate.degraded(inputs[..., 0])  # judged on the crop itself, whatever the framings
        probs = np.empty((len(inputs), len(EMOTIONS)), np.float32)
        if not degraded.all():
            probs[~degraded] = self._read(self._session, inputs[~degraded], self.framings)
        if degraded.any():
            probs[degraded] = self._read(self._calls_session, inputs[degraded], self.calls_framings)
        return probs

    def degraded(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) bool: which faces the call-condition network reads (all False without one)."""
        if self.gate is None:
            return np.zeros(len(faces), bool)
        return self.gate.degraded(self.preprocess(faces)[..., 0])

    def _read(self, session: object, inputs: np.ndarray, framings: tuple[float, ...]) -> np.ndarray:
        """One network's probabilities for ``inputs``, read at each of ``framings`` and averaged;
        all framings of a batch go through the network in one run."""
        if len(framings) == 1:
            return self._run(session, reframe(inputs, framings[0]))
        stacked = self._run(session, np.concatenate([reframe(inputs, scale) for scale in framings]))
        return average_readings(np.split(stacked, len(framings)))

    def _run(self, session: object, inputs: np.ndarray) -> np.ndarray:
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]
        outputs = [
            session.run(None, {name: inputs[i : i + self.batch_size]})[0]  # type: ignore[attr-defined]
            for i in range(0, len(inputs), self.batch_size)
        ]
        probs = np.concatenate(outputs).astype(np.float32)
        return probs / probs.sum(axis=1, keepdims=True)
