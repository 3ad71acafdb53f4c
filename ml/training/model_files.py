"""An export's files on disk: each written atomically, the metadata carrying the model's sha256.

Free of TensorFlow and of the ``onnx`` package, so the commands that rewrite an export without
training (the routing fit, which ``emotrace evaluate`` shares a serving install with, and the int8
copy) write it exactly as training does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

from ml.classifier import metadata_path


class SerializableModel(Protocol):
    """What an ONNX ``ModelProto`` offers for writing (no import of ``onnx`` needed here)."""

    def SerializeToString(self) -> bytes: ...


def write_json(path: Path, payload: object, *, sort_keys: bool = False) -> None:
    """``path`` holds either its previous content or all of ``payload``, never a part."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n")
    os.replace(tmp, path)


def write_model(proto: SerializableModel, onnx_path: Path, meta: dict[str, object]) -> dict[str, object]:
    """Write the ONNX file and its metadata, each atomically, with the file's sha256 set last in
    the metadata, so no caller's metadata can override it: EmotionClassifier.load checks it.
    Returns the metadata as written."""
    data = proto.SerializeToString()
    tmp = onnx_path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, onnx_path)
    written = {**meta, "sha256": hashlib.sha256(data).hexdigest()}
    write_json(metadata_path(onnx_path), written)
    return written
