"""Distillation targets: the served network's reading of the clean face.

Trained on call-degraded faces against the crowd's votes alone, the network loses clean accuracy
(ml/MODEL_CARD.md, "Recipe changes"): the votes describe the clean tile, and a blurred or
compressed copy often no longer shows what the crowd saw, so the network learns to hedge. A
teacher that sees the same face before the degradations tells the student what is still there to
read; mixing its distribution into the target keeps the clean behaviour while the student learns
to see through blur, codecs and noise (Hinton et al. 2015; the clean/degraded pairing follows
"knowledge distillation for low-resolution faces", Ge et al. 2019).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.classifier import EmotionClassifier


class Teacher:
    """An exported model's untempered class distribution for a batch of (B, 48, 48, 1) faces.

    The export divides its logits by a fitted temperature T before the softmax; raising its
    probabilities to the power T and renormalising gives the softmax of the raw logits, the
    distribution the network itself learned (the temperature was fitted for calibration, not
    for teaching).
    """

    def __init__(self, model: str | Path) -> None:
        self.classifier = EmotionClassifier.load(model, threads=1, routed=False)
        self.temperature = float(self.classifier.metadata.get("temperature", 1.0))  # type: ignore[arg-type]

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        probs = self.classifier.predict(list(np.asarray(faces)[..., 0])).astype(np.float64)
        raw = np.power(np.maximum(probs, 1e-12), self.temperature)
        return (raw / raw.sum(axis=1, keepdims=True)).astype(np.float32)


def mixed_targets(teacher: np.ndarray, votes: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of the teacher's distribution, the rest the crowd's votes: both sum to 1."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distillation weight must be in [0, 1], got {weight}")
    return weight * teacher + (1.0 - weight) * votes
