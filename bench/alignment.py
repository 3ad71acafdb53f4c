"""Would levelling the eyes before the crop help the classifier read tilted heads?

    python bench/alignment.py [--faces 3199] [--json out.json]

People in calls tilt their heads; the network learned from FER tiles with their natural tilt and
±15° of rotation augmentation, and loses about 2.3 points of FER+ Valid accuracy at ±20°
(``emotrace evaluate --degrade`` rotates the tile itself). YuNet returns the two eye centres with
each box, so the pipeline could rotate the frame about the face until the eyes are level before
cropping. Measured here on FER2013Valid's majority-labelled tiles, each upscaled to 96 px, set in
a canvas three tiles wide whose border repeats the tile's edge (as ``bench/framing.py``), and
rotated by each angle; then, as the pipeline would:

- ``haar``: the shipped default detector's box, the FER-framed crop (``ml.faces.crop_face``);
- ``yunet``: YuNet's box, the same crop;
- ``yunet aligned``: YuNet's box, the canvas rotated about the box centre so that the eye line is
  level, the same crop;
- ``haar, yunet on its misses``: the ``haar+yunet`` detector (``ml.faces.HaarYuNetDetector``:
  Haar's faces, YuNet's where Haar finds none), the same crop. Its accuracy on the tiles Haar
  alone misses says whether the fallback adds right readings or noise.

A tile where the detector finds no central face counts as wrong; accuracy is also printed over
the tiles found, where the two YuNet arms read the same faces, so their difference is the
alignment's alone. The served model reads every crop. FER+ test is never read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.classifier import EmotionClassifier
from ml.faces import YUNET_MODEL, Box, HaarDetector, HaarYuNetDetector, crop_face
from ml.training.data import load_split, majority_faces

FERPLUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus"
TILE = 96
ANGLES = (-20, -10, 0, 10, 20)
ARMS = ("haar", "yunet", "yunet aligned", "haar, yunet on its misses")


def _central(boxes: list[Box]) -> Box | None:
    lo, hi = TILE * 0.8, TILE * 2.2
    inside = [b for b in boxes if lo < b.x + b.w / 2 < hi and lo < b.y + b.h / 2 < hi]
    return max(inside, key=lambda b: b.w * b.h) if inside else None


def _canvas(face: np.ndarray, angle: float) -> np.ndarray:
    tile = cv2.resize(face.astype(np.uint8), (TILE, TILE), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.copyMakeBorder(tile, TILE, TILE, TILE, TILE, cv2.BORDER_REPLICATE)
    turn = cv2.getRotationMatrix2D((1.5 * TILE, 1.5 * TILE), angle, 1.0)
    rotated = cv2.warpAffine(canvas, turn, canvas.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(rotated, cv2.COLOR_GRAY2BGR)


def _yunet(detector: cv2.FaceDetectorYN, image: np.ndarray) -> tuple[Box, float] | None:
    """The central face and the tilt of its eye line, degrees (positive: the right eye higher)."""
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, faces = detector.detect(image)
    rows = {Box(*(round(float(v)) for v in face[:4])): face for face in (faces if faces is not None else [])}
    box = _central(list(rows))
    if box is None:
        return None
    face = rows[box]
    right_eye, left_eye = face[4:6], face[6:8]  # the person's right eye is on the image's left
    return box, math.degrees(math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))


def crops(faces: np.ndarray, angle: float) -> dict[str, list[np.ndarray | None]]:
    haar, haar_yunet = HaarDetector(), HaarYuNetDetector()
    yunet = cv2.FaceDetectorYN.create(str(YUNET_MODEL), "", (320, 320), 0.7, 0.3, 50)
    out: dict[str, list[np.ndarray | None]] = {arm: [] for arm in ARMS}
    for face in faces:
        canvas = _canvas(face, angle)
        for arm, detector in (("haar", haar), ("haar, yunet on its misses", haar_yunet)):
            box = _central(detector.detect(canvas, long_side=3 * TILE, min_fraction=0.1))
            out[arm].append(crop_face(canvas, box) if box is not None else None)
        found = _yunet(yunet, canvas)
        if found is None:
            out["yunet"].append(None)
            out["yunet aligned"].append(None)
            continue
        box, tilt = found
        out["yunet"].append(crop_face(canvas, box))
        level = cv2.getRotationMatrix2D((box.x + box.w / 2, box.y + box.h / 2), tilt, 1.0)
        upright = cv2.warpAffine(
            canvas, level, canvas.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out["yunet aligned"].append(crop_face(upright, box))
    return out


def accuracy(classifier: EmotionClassifier, read: list[np.ndarray | None], labels: np.ndarray) -> dict[str, float]:
    found = np.array([c is not None for c in read])
    predicted = np.full(len(read), -1)
    if found.any():
        predicted[found] = classifier.predict([c for c in read if c is not None]).argmax(axis=1)
    right = predicted == labels
    return {
        "accuracy": round(float(right.mean()), 4),
        "found": round(float(found.mean()), 4),
        "accuracy_where_found": round(float(right[found].mean()), 4) if found.any() else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ferplus", type=Path, default=FERPLUS)
    parser.add_argument("--faces", type=int, default=None, help="first N majority-labelled Valid faces")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    faces, labels = majority_faces(load_split(args.ferplus, "valid"))
    faces, labels = faces[: args.faces], labels[: args.faces]
    classifier = EmotionClassifier.load()
    report: dict[str, dict[str, dict[str, float]]] = {}
    for angle in ANGLES:
        read = crops(faces, angle)
        report[str(angle)] = {}
        for arm in ARMS:
            report[str(angle)][arm] = accuracy(classifier, read[arm], labels)
        fallback = read["haar, yunet on its misses"]
        only_yunet = [both if alone is None else None for alone, both in zip(read["haar"], fallback, strict=True)]
        report[str(angle)]["yunet where haar misses"] = accuracy(classifier, only_yunet, labels)
        row = "  ".join(
            f"{arm} {v['accuracy']:.4f} (found {v['found']:.3f}, where found {v['accuracy_where_found']:.4f})"
            for arm, v in report[str(angle)].items()
        )
        print(f"rotation {angle:+3d} deg: {row}", flush=True)
    means = {arm: round(float(np.mean([report[str(a)][arm]["accuracy"] for a in ANGLES])), 4) for arm in ARMS}
    print("mean over angles: " + "  ".join(f"{arm} {v:.4f}" for arm, v in means.items()))
    if args.json:
        args.json.write_text(json.dumps({"faces": len(faces), "angles": report, "mean": means}, indent=2) + "\n")


if __name__ == "__main__":
    main()
