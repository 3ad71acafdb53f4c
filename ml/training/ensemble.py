"""Serve several trained networks as one: the mean of their logits, one softmax.

Networks trained with different augmentation make different mistakes. The one trained with FER's
mild augmentation (``v1``) reads clean tiles best; the one trained with call-condition
augmentation (``v2``: blur, down-up scaling, JPEG, noise, occlusion, tight and loose framing)
holds up where the first breaks. Averaging their logits keeps most of each one's strength
(ml/MODEL_CARD.md, "Recipe changes"). Each member runs once on the face, without the mirrored
pass the single network used: two networks cost what one network with flip averaging cost, so
serving speed is unchanged.

    python -m ml.training.ensemble --member runs/emotion/stage1/final.keras \\
        --member runs/emotion/stage1_v2/final.keras --out ml/weights

A member is a training run's ``final.keras`` or a single-network ONNX export (its weights are
recovered by :mod:`ml.training.from_onnx`). The temperature is fitted on FER+ Valid, never on test
or cross-domain data.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from ml.classifier import metadata_path
from ml.training.data import load_split, majority_labels, soft_labels
from ml.training.model import INPUT_SIZE, build_emotion_model, member_name
from ml.training.train import calibration_targets, fit_temperature, majority_accuracy, predict_logits


def _resolution(model: keras.Model) -> int:
    return int(model.get_layer("upsample").height)


def load_member(path: Path) -> keras.Model:
    """A trained network from a run's ``.keras`` file or from a single-network ONNX export."""
    if path.suffix == ".keras":
        return keras.models.load_model(path, compile=False)
    if path.suffix == ".onnx":
        from ml.training.from_onnx import load_onnx_weights

        meta = json.loads(metadata_path(path).read_text()) if metadata_path(path).is_file() else {}
        model = build_emotion_model(int(meta.get("training", {}).get("config", {}).get("resolution", 96)))
        load_onnx_weights(model, path)
        return model
    raise ValueError(f"{path}: a member is a .keras network or an .onnx export")


def ensemble_model(members: Sequence[keras.Model]) -> keras.Model:
    """One Keras network computing the mean of the members' logits; each member keeps its own
    weights under the name ``member_<i>``."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    face = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="face")
    outputs = []
    for index, member in enumerate(members):
        copy = build_emotion_model(_resolution(member), name=member_name(index))
        copy.set_weights(member.get_weights())
        outputs.append(copy(face))
    logits = keras.layers.Average(name="logit_mean")(outputs)
    return keras.Model(face, logits, name="emotion_ensemble")


def build_ensemble(
    member_paths: Sequence[Path],
    data: Path,
    out_dir: Path,
    *,
    flip_tta: bool = False,
    calibrate_to: str = "majority",
    metadata: dict[str, object] | None = None,
) -> dict[str, float]:
    """Combine the members, fit the temperature on Valid, export; returns the Valid result."""
    from ml.training.export import export_onnx

    model = ensemble_model([load_member(path) for path in member_paths])
    valid = load_split(data, "valid")
    x_valid = valid.images[..., None].astype(np.float32)
    logits = predict_logits(model, x_valid, flip_tta=flip_tta)
    temperature = fit_temperature(*calibration_targets(logits, soft_labels(valid.votes), valid.votes, calibrate_to))
    result = {
        "members": len(member_paths),
        "valid_majority_accuracy": majority_accuracy(logits, valid.votes),
        "valid_faces_with_majority": int((majority_labels(valid.votes) >= 0).sum()),
        "temperature": temperature,
    }
    export_onnx(
        model,
        out_dir,
        temperature=temperature,
        flip_tta=flip_tta,
        metadata={
            "members": [str(path) for path in member_paths],
            "ensemble": {"rule": "mean of logits", "calibrate_to": calibrate_to, "result": result},
            **(metadata or {}),
        },
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--member", action="append", required=True, type=Path, help=".keras network or .onnx export")
    parser.add_argument("--data", default="../shared/data/ferplus", type=Path, help="FER+ root (Valid fits T)")
    parser.add_argument("--out", required=True, type=Path, help="directory for emotion.onnx and emotion.json")
    parser.add_argument("--flip-tta", action="store_true", help="also average each member over the mirrored face")
    parser.add_argument("--calibrate-to", default="majority", choices=("votes", "majority"))
    args = parser.parse_args(argv)
    result = build_ensemble(args.member, args.data, args.out, flip_tta=args.flip_tta, calibrate_to=args.calibrate_to)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
