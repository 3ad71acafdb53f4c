"""Test-time framings: a face read at a few zooms around its crop, the readings averaged.

How tightly a face is framed is an accident of the detector (or, for FER's tiles, of whoever cut
them), and the network's reading of a subtle expression moves with it: one zoom 4% in or out
changes the argmax of a few faces in a hundred. Reading the face at the crop itself and slightly
inside and outside it, and averaging the log-probabilities, keeps what the readings agree on.
Which zooms a network is read at is fitted on FER+ Valid (``ml.training.framings``) and recorded in
its metadata as ``framings``; a model without that key is read once, as trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

AS_TRAINED: tuple[float, ...] = (1.0,)


def reframe(faces: np.ndarray, scale: float) -> np.ndarray:
    """(N, S, S, 1) float32 faces -> the same faces framed ``scale`` times as wide, centred.

    ``scale`` < 1 zooms in (a tighter crop, upsampled back to S); > 1 zooms out, the new border
    mirrored from the face's own edge (as the training augmentation fills it) and area-downscaled
    to S. A few microseconds a face, against about a millisecond for the network.
    """
    if scale == 1.0:
        return faces
    size = faces.shape[1]
    out = np.empty_like(faces)
    if scale < 1.0:
        side = round(size * scale)
        lo = (size - side) // 2
        for i, face in enumerate(faces[..., 0]):
            out[i, :, :, 0] = cv2.resize(
                face[lo : lo + side, lo : lo + side], (size, size), interpolation=cv2.INTER_LINEAR
            )
    else:
        pad = round(size * (scale - 1.0) / 2)
        for i, face in enumerate(faces[..., 0]):
            outer = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT)
            out[i, :, :, 0] = cv2.resize(outer, (size, size), interpolation=cv2.INTER_AREA)
    return out


def average_readings(readings: Sequence[np.ndarray]) -> np.ndarray:
    """(N, C) probabilities per framing -> their normalised geometric mean, (N, C) float32.

    The mean of log-probabilities is the mean of the logits up to a constant per face, the way
    the graph already averages a face and its mirror image."""
    if len(readings) == 1:
        return np.asarray(readings[0], np.float32)
    log_mean = np.mean([np.log(np.maximum(p, 1e-12)) for p in readings], axis=0)
    log_mean -= log_mean.max(axis=1, keepdims=True)
    probs = np.exp(log_mean)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def parse_framings(value: object) -> tuple[float, ...]:
    """The ``framings`` of a model's metadata (or a caller's), checked: zooms in [0.5, 2]."""
    if value is None:
        return AS_TRAINED
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"framings must be a non-empty list of zooms, got {value!r}")
    scales = tuple(float(v) for v in value)
    if any(not 0.5 <= s <= 2.0 for s in scales):
        raise ValueError(f"framings must lie in [0.5, 2], got {list(scales)}")
    return scales
