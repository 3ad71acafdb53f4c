"""Score a classifier on any folder of labelled faces laid out ``<class>/<image>``.

Users bring their own evaluation sets (RAF-DB, AffectNet, KDEF, their own clinic's consented
stills) in this layout, under the class names those sets use: folder names are matched to the FER+
classes through :data:`ALIASES`, folders that match no class are refused by name (a typo must not
silently drop a class), and classes absent from the folder are simply not scored.

With ``detect``, each image is a full photo: the pipeline's own detector and crop find the face
first (the same code a video frame takes), and an image where no face is found counts as wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ml import EMOTIONS
from ml.faces import SubjectTracker, crop_face, detect_subject, make_detector
from ml.training.evaluate import Classifier, Report, classification_metrics

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
ALIASES: dict[str, str] = {
    **{name: name for name in EMOTIONS},
    "neutrality": "neutral",
    "calm": "neutral",
    "happy": "happiness",
    "joy": "happiness",
    "surprised": "surprise",
    "surprize": "surprise",
    "sad": "sadness",
    "angry": "anger",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "contemptuous": "contempt",
}


def class_of(folder_name: str) -> str:
    key = folder_name.strip().lower().replace("-", "_").replace(" ", "_")
    key = key.split("_", 1)[1] if key[:1].isdigit() and "_" in key else key  # "3_sad" -> "sad"
    if key not in ALIASES:
        known = ", ".join(sorted(ALIASES))
        raise ValueError(f"folder {folder_name!r} is not an emotion class; known names: {known}")
    return ALIASES[key]


def labelled_images(root: Path) -> list[tuple[Path, int]]:
    """(image path, class index) for every image under ``root/<class>/``, sorted for repeatability."""
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    items: list[tuple[Path, int]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = EMOTIONS.index(class_of(folder.name))
        items += [(f, label) for f in sorted(folder.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise ValueError(f"no images found under {root}/<class>/")
    return items


def evaluate_folder(
    classifier: Classifier,
    root: Path,
    *,
    detect: bool = False,
    detector: str = "haar",
    yunet_model: str | os.PathLike[str] | None = None,
    batch_size: int = 128,
) -> Report:
    items = labelled_images(root)
    face_detector = make_detector(detector, yunet_model=yunet_model) if detect else None
    labels = np.array([label for _, label in items], np.int64)
    predicted = np.full(len(items), -1, np.int64)
    probs = np.zeros((len(items), len(EMOTIONS)), np.float32)
    unreadable = 0
    for start in range(0, len(items), batch_size):
        crops, index = [], []
        for i in range(start, min(start + batch_size, len(items))):
            image = cv2.imread(str(items[i][0]), cv2.IMREAD_COLOR)
            if image is None:
                unreadable += 1
                continue
            if face_detector is not None:
                # A fresh tracker per photo: each image is its own one-frame "video".
                box = detect_subject(face_detector, SubjectTracker(), 0, image)
                if box is None:
                    continue
                image = crop_face(image, box)
            crops.append(image)
            index.append(i)
        if crops:
            batch = classifier.predict(crops)
            probs[index] = batch
            predicted[index] = batch.argmax(axis=1)
    metrics = classification_metrics(probs, labels, predicted=predicted)
    result: Report = {
        "dataset": f"{root} ({'faces detected by ' + detector if detect else 'images as face crops'})",
        **metrics,
    }
    if detect:
        result["no_face"] = int((predicted < 0).sum()) - unreadable
    if unreadable:
        result["unreadable"] = unreadable
    return result
