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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FolderReading:
    """Every image of a folder as the classifier read it; ``predicted`` is -1 where no face was
    found or the image could not be read."""

    paths: list[Path]
    labels: np.ndarray
    probs: np.ndarray
    predicted: np.ndarray
    unreadable: int
    crops: list[np.ndarray | None] | None = None  # with keep_crops: what the classifier read, per image


def read_folder(
    classifier: Classifier,
    root: Path,
    *,
    detect: bool = False,
    detector: str = "haar",
    yunet_model: str | os.PathLike[str] | None = None,
    batch_size: int = 128,
    keep_crops: bool = False,
) -> FolderReading:
    items = labelled_images(root)
    face_detector = make_detector(detector, yunet_model=yunet_model) if detect else None
    labels = np.array([label for _, label in items], np.int64)
    predicted = np.full(len(items), -1, np.int64)
    probs = np.zeros((len(items), len(EMOTIONS)), np.float32)
    unreadable = 0
    kept: list[np.ndarray | None] = [None] * len(items)
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
            if keep_crops:
                kept[i] = image.copy()  # a crop is a view: the copy lets the whole photo go
        if crops:
            batch = classifier.predict(crops)
            probs[index] = batch
            predicted[index] = batch.argmax(axis=1)
    return FolderReading(
        [path for path, _ in items], labels, probs, predicted, unreadable, kept if keep_crops else None
    )


def evaluate_folder(
    classifier: Classifier,
    root: Path,
    *,
    detect: bool = False,
    detector: str = "haar",
    yunet_model: str | os.PathLike[str] | None = None,
    batch_size: int = 128,
) -> Report:
    read = read_folder(
        classifier, root, detect=detect, detector=detector, yunet_model=yunet_model, batch_size=batch_size
    )
    metrics = classification_metrics(read.probs, read.labels, predicted=read.predicted)
    result: Report = {
        "dataset": f"{root} ({'faces detected by ' + detector if detect else 'images as face crops'})",
        **metrics,
    }
    if detect:
        result["no_face"] = int((read.predicted < 0).sum()) - read.unreadable
    if read.unreadable:
        result["unreadable"] = read.unreadable
    return result
