"""emotrace's machine-learning core: video -> faces -> emotions -> timeline.

Importing ``ml`` stays cheap (no TensorFlow, no ONNX Runtime): heavy modules are imported by the
submodules that need them. ``ml`` never reads settings or imports the service layers; plain
arguments go in and values come out, so it runs the same in a notebook, the CLI and a worker.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)
"""The FER+ emotion classes, in the column order of ``fer2013new.csv`` and of every probability
vector emotrace produces."""

__all__ = ["EMOTIONS"]
