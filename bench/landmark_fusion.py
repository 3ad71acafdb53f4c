"""Does face geometry add to the network? dlib's 68 landmarks, a small classifier on them, fused
with the served model: measured on FER+ Valid and a cross-domain folder.

    python bench/landmark_fusion.py --cross-domain ../shared/data/taiwanese_posed [--json out.json]

Expression geometry (brows raised, mouth open, lip corners) is what classic posed-expression
systems read, and it might carry across people better than texture. Each face is upscaled to
96 px (FER's tiles are 48) and dlib's 68-point predictor (the ``face-recognition-models`` file the
participants step already ships) is run with the whole crop as its box; the points are aligned
to their mean shape by a similarity fit on the eyes and nose, and a two-layer MLP learns FER+
Train's soft vote targets from the 136 coordinates. Its log-probabilities are added, with weight
``w``, to the served model's; ``w`` is chosen on FER+ Valid, and the cross-domain folder (faces
found by the pipeline's detector and crop, as ``emotrace evaluate --detect``) is only reported.
FER+ test is never read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.classifier import EmotionClassifier
from ml.identity import dlib_model_dir
from ml.training.data import load_split, majority_faces, soft_labels, trainable_mask
from ml.training.folder_eval import read_folder

FERPLUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus"
SIZE = 96
ANCHORS = [*range(36, 48), 27, 28, 29, 30, 31, 35]  # eyes and nose: stable across expressions
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def landmarks(faces: list[np.ndarray]) -> np.ndarray:
    import dlib

    predictor = dlib.shape_predictor(str(dlib_model_dir() / "shape_predictor_68_face_landmarks.dat"))
    out = np.zeros((len(faces), 68, 2), np.float64)
    whole = dlib.rectangle(0, 0, SIZE, SIZE)
    for i, face in enumerate(faces):
        gray = face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        shrink = min(gray.shape) >= SIZE
        image = cv2.resize(
            gray.astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
        out[i] = [(p.x / SIZE, p.y / SIZE) for p in predictor(image, whole).parts()]
    return out


def aligned(points: np.ndarray, reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align each shape's anchors to ``reference`` (their mean when None); (N, 136)."""
    centred = points - points[:, ANCHORS].mean(axis=1, keepdims=True)
    if reference is None:
        reference = centred[:, ANCHORS].mean(axis=0)
    out = np.empty_like(centred)
    for i, shape in enumerate(centred):
        u, s, vt = np.linalg.svd(shape[ANCHORS].T @ reference)
        out[i] = s.sum() / (shape[ANCHORS] ** 2).sum() * shape @ (u @ vt)
    return out.reshape(len(out), -1), reference


def fit_mlp(features: np.ndarray, targets: np.ndarray, seed: int = 0) -> object:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((features.shape[1],)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(targets.shape[1], activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    model.fit(features, targets, epochs=40, batch_size=256, verbose=0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ferplus", type=Path, default=FERPLUS)
    parser.add_argument("--cross-domain", type=Path, required=True, help="folder laid out <class>/<image>")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train = load_split(args.ferplus, "train")
    keep = trainable_mask(train.votes)
    train_x, reference = aligned(landmarks(list(train.images[keep])))
    mean, scale = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    mlp = fit_mlp((train_x - mean) / scale, soft_labels(train.votes[keep]))

    def geometry(faces: list[np.ndarray]) -> np.ndarray:
        return mlp.predict((aligned(landmarks(faces), reference)[0] - mean) / scale, verbose=0)  # type: ignore[attr-defined]

    classifier = EmotionClassifier.load()
    valid_faces, valid_labels = majority_faces(load_split(args.ferplus, "valid"))
    valid_net = classifier.predict(list(valid_faces))
    valid_geo = geometry(list(valid_faces))
    read = read_folder(classifier, args.cross_domain, detect=True, keep_crops=True)
    found = read.predicted >= 0
    crops = [crop for crop in read.crops or [] if crop is not None]
    cross_geo = np.zeros_like(read.probs)
    cross_geo[found] = geometry(crops)

    def fused(net: np.ndarray, geo: np.ndarray, w: float) -> np.ndarray:
        return np.log(np.maximum(net, 1e-6)) + w * np.log(np.maximum(geo, 1e-6))

    rows = []
    for w in WEIGHTS:
        valid_acc = float((fused(valid_net, valid_geo, w).argmax(axis=1) == valid_labels).mean())
        cross_pred = np.where(found, fused(read.probs, cross_geo, w).argmax(axis=1), -1)
        rows.append(
            {"w": w, "valid": round(valid_acc, 4), "cross_domain": round(float((cross_pred == read.labels).mean()), 4)}
        )
    chosen = max(rows, key=lambda row: row["valid"])
    alone = {
        "valid": round(float((valid_geo.argmax(axis=1) == valid_labels).mean()), 4),
        "cross_domain": round(float((np.where(found, cross_geo.argmax(axis=1), -1) == read.labels).mean()), 4),
    }
    report = {"geometry_alone": alone, "fused": rows, "chosen_on_valid": chosen}
    print(f"landmark MLP alone: Valid {alone['valid']:.4f}, cross-domain {alone['cross_domain']:.4f}")
    for row in rows:
        print(f"w {row['w']:.1f}: Valid {row['valid']:.4f}  cross-domain {row['cross_domain']:.4f}")
    print(f"chosen on Valid: w {chosen['w']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
