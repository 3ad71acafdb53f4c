"""Is a face crop degraded the way a poor call degrades it? A cheap gate that routes each face.

Two networks serve together (``ml.classifier``): one trained on clean FER faces, which reads sharp
faces best, and one fine-tuned with blur, low resolution, JPEG and noise, which reads those far
better and clean faces slightly worse. Neither is best everywhere, and averaging them splits the
difference, so each face goes to one of them: the gate is a logistic regression on four measures
of the 48x48 face the networks see, fitted on FER+ Valid faces, clean and degraded
(``ml.training.routing``). It costs a few tens of microseconds a face, against about a millisecond
for a network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FEATURES = ("log_sharpness", "noise", "jpeg_blockiness", "down_up_detail")
BLOCK = 8  # JPEG's block size, in pixels of the 48x48 face


def quality_features(faces: np.ndarray) -> np.ndarray:
    """(N, 48, 48) gray faces in [0, 255] -> (N, 4) float64, the measures in ``FEATURES`` order.

    - log Laplacian variance: blur and down-then-up scaling remove fine edges;
    - median |face - 3x3 median|: sensor noise is what a median filter takes away;
    - mean step across 8-px block edges over the mean step elsewhere: JPEG's seams;
    - mean |face - its 24-px down-up copy|: detail a low-resolution capture never had.
    """
    faces = np.asarray(faces)
    rows = np.empty((len(faces), len(FEATURES)), np.float64)
    for i, face in enumerate(faces):
        pixels = np.clip(face, 0, 255).astype(np.uint8)
        f = pixels.astype(np.float32)
        sharpness = np.log1p(cv2.Laplacian(f, cv2.CV_32F).var())
        noise = np.median(np.abs(f - cv2.medianBlur(pixels, 3).astype(np.float32)))
        steps = np.abs(np.diff(f, axis=1))
        at_block_edge = np.arange(steps.shape[1]) % BLOCK == BLOCK - 1
        blockiness = steps[:, at_block_edge].mean() / (steps[:, ~at_block_edge].mean() + 1e-3)
        half = (f.shape[1] // 2, f.shape[0] // 2)
        small = cv2.resize(f, half, interpolation=cv2.INTER_AREA)
        detail = np.abs(f - cv2.resize(small, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_LINEAR)).mean()
        rows[i] = (sharpness, noise, blockiness, detail)
    return rows


@dataclass(frozen=True)
class QualityGate:
    """P(degraded) = sigmoid(((features - mean) / scale) . weights + bias); a face goes to the
    call-trained network when that exceeds ``threshold``."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def routes(self, features: np.ndarray) -> np.ndarray:
        """(N,) bool from (N, 4) measures: which faces go to the call-trained network."""
        return self.probability(features) > self.threshold

    def degraded(self, faces: np.ndarray) -> np.ndarray:
        """(N,) bool: which faces the call-trained network should read."""
        if len(faces) == 0:
            return np.zeros(0, bool)
        return self.routes(quality_features(faces))

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> QualityGate:
        if tuple(data.get("features", ())) != FEATURES:  # type: ignore[arg-type]
            raise ValueError(f"quality gate features {data.get('features')} differ from {list(FEATURES)}")
        vectors = {}
        for key in ("mean", "scale", "weights"):
            values = tuple(float(v) for v in data[key])  # type: ignore[attr-defined]
            if len(values) != len(FEATURES):
                raise ValueError(f"quality gate {key!r} has {len(values)} values, expected {len(FEATURES)}")
            vectors[key] = values
        return cls(
            mean=vectors["mean"],
            scale=vectors["scale"],
            weights=vectors["weights"],
            bias=float(data["bias"]),  # type: ignore[arg-type]
            threshold=float(data["threshold"]),  # type: ignore[arg-type]
        )
