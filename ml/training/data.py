"""Load FER2013 faces with their FER+ crowd votes, from either layout users have.

Two layouts are accepted and give identical arrays:

* the FERPlus conversion layout: ``images/FER2013{Train,Valid,Test}/ferNNNNNNN.png`` beside
  ``fer2013new.csv`` (what ``generate_training_data.py`` of Microsoft/FERPlus writes);
* the original Kaggle ``fer2013.csv`` (48*48 pixels as space-separated text, one row per face)
  together with ``fer2013new.csv``, whose rows are in the same order.

Labels follow the standard FER+ protocols, as Microsoft/FERPlus's reader implements them. Every
protocol first removes single votes (FER+'s outlier removal: one tagger in ten is noise).
*Majority*: a face is labelled when one class holds more than half of the remaining votes and
that class is an emotion; otherwise (``unknown``/``NF`` on top, ties, no majority) it is dropped.
This is the protocol papers quote test accuracy with; on FER2013Test it keeps 3,152 faces.
*Soft*: the remaining vote distribution over the 8 emotions; the training target.

An image name listed on two rows of ``fer2013new.csv`` (four such names) is ambiguous: the image
file holds only one of the two faces. Both rows are dropped, which reproduces the reference counts.

This module needs only NumPy and OpenCV, so evaluation code can use it without TensorFlow.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ml import EMOTIONS

Split = Literal["train", "valid", "test"]

IMAGE_SIZE = 48
VOTE_COLUMNS = (*EMOTIONS, "unknown", "NF")

_USAGE_TO_SPLIT: dict[str, Split] = {
    "Training": "train",
    "PublicTest": "valid",
    "PrivateTest": "test",
}
_SPLIT_TO_FOLDER: dict[Split, str] = {
    "train": "FER2013Train",
    "valid": "FER2013Valid",
    "test": "FER2013Test",
}


@dataclass(frozen=True)
class FerSplit:
    """Faces of one split with their raw votes; ``names`` keep provenance for error analysis."""

    images: np.ndarray  # (N, 48, 48) uint8 grayscale
    votes: np.ndarray  # (N, 10) float32: the 8 emotions, unknown, NF
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)


def remove_outlier_votes(votes: np.ndarray) -> np.ndarray:
    """Zero every class that got a single vote, as FER+ does before any protocol."""
    votes = np.asarray(votes, dtype=np.float32)
    return np.where(votes > 1.0, votes, 0.0).astype(np.float32)


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label per face, or -1 where the protocol drops the face."""
    cleaned = remove_outlier_votes(votes)
    top = cleaned.max(axis=1)
    label = cleaned.argmax(axis=1)
    keep = (top > 0.5 * cleaned.sum(axis=1)) & (label < len(EMOTIONS))
    return np.where(keep, label, -1).astype(np.int64)


def majority_faces(split: FerSplit) -> tuple[np.ndarray, np.ndarray]:
    """The faces the majority-vote protocol scores, and their labels."""
    labels = majority_labels(split.votes)
    keep = labels >= 0
    return split.images[keep], labels[keep]


def soft_labels(votes: np.ndarray) -> np.ndarray:
    """Vote distribution over the 8 emotions after outlier removal; all-zero where none is left."""
    cleaned = remove_outlier_votes(votes)[:, : len(EMOTIONS)]
    total = cleaned.sum(axis=1, keepdims=True)
    return np.divide(cleaned, total, out=np.zeros_like(cleaned), where=total > 0)


def trainable_mask(votes: np.ndarray) -> np.ndarray:
    """Faces worth training on: after outlier removal the top class is an emotion. Looser than
    the majority protocol (ties and pluralities stay), because soft targets carry the ambiguity."""
    cleaned = remove_outlier_votes(votes)
    return (cleaned.argmax(axis=1) < len(EMOTIONS)) & (cleaned[:, : len(EMOTIONS)].sum(axis=1) > 0)


def _read_votes_csv(ferplus_csv: Path) -> list[tuple[Split, str, np.ndarray]]:
    """Rows of ``fer2013new.csv`` in file order. Rows without a usable image (FER+ dropped the face,
    or the name is duplicated) keep their place, so row indices still match ``fer2013.csv``, but
    get an empty name."""
    rows: list[tuple[Split, str, np.ndarray]] = []
    with ferplus_csv.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{ferplus_csv.name}: missing columns {missing}")
        for row in reader:
            split = _USAGE_TO_SPLIT.get(row["Usage"].strip())
            if split is None:
                raise ValueError(f"{ferplus_csv.name}: unknown Usage {row['Usage']!r}")
            votes = np.array([float(row[c] or 0) for c in VOTE_COLUMNS], dtype=np.float32)
            rows.append((split, row["Image name"].strip(), votes))
    seen = Counter(name for _, name, _ in rows if name)
    return [(split, name if seen[name] < 2 else "", votes) for split, name, votes in rows]


def load_ferplus_folders(root: Path, split: Split) -> FerSplit:
    """One split from the FERPlus image folders, in ``fer2013new.csv`` row order."""
    root = Path(root)
    folder = root / "images" / _SPLIT_TO_FOLDER[split]
    if not folder.is_dir():
        folder = root / _SPLIT_TO_FOLDER[split]
    if not folder.is_dir():
        raise FileNotFoundError(f"no {_SPLIT_TO_FOLDER[split]} folder under {root}")
    images, votes, names = [], [], []
    for row_split, name, row_votes in _read_votes_csv(root / "fer2013new.csv"):
        if row_split != split or not name:
            continue
        image = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise FileNotFoundError(f"{folder.name}/{name} is listed in fer2013new.csv but unreadable")
        if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
            image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        images.append(image)
        votes.append(row_votes)
        names.append(name)
    return _stack(images, votes, names)


def load_fer2013_csv(fer2013_csv: Path, ferplus_csv: Path, split: Split) -> FerSplit:
    """One split from Kaggle's ``fer2013.csv`` (pixels as text) plus ``fer2013new.csv``.

    The two files are matched row by row, as FER+ specifies; rows that FER+ dropped (empty
    image name) are skipped. A row count mismatch means the wrong files were paired, so it fails.
    """
    vote_rows = _read_votes_csv(Path(ferplus_csv))
    images, votes, names = [], [], []
    with Path(fer2013_csv).open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"pixels", "Usage"} <= set(reader.fieldnames or []):
            raise ValueError(f"{Path(fer2013_csv).name}: expected columns 'pixels' and 'Usage'")
        count = 0
        for index, row in enumerate(reader):
            count += 1
            if index >= len(vote_rows):
                continue
            row_split, name, row_votes = vote_rows[index]
            if row_split != split or not name:
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            if pixels.size != IMAGE_SIZE * IMAGE_SIZE:
                raise ValueError(f"row {index}: {pixels.size} pixels, expected {IMAGE_SIZE * IMAGE_SIZE}")
            images.append(pixels.reshape(IMAGE_SIZE, IMAGE_SIZE))
            votes.append(row_votes)
            names.append(name)
    if count != len(vote_rows):
        raise ValueError(f"fer2013.csv has {count} rows but fer2013new.csv has {len(vote_rows)}")
    return _stack(images, votes, names)


def load_split(root: Path, split: Split) -> FerSplit:
    """Whichever layout ``root`` holds: the image folders, else ``fer2013.csv``."""
    root = Path(root)
    if (root / "fer2013.csv").is_file() and not (root / "images").is_dir():
        return load_fer2013_csv(root / "fer2013.csv", root / "fer2013new.csv", split)
    return load_ferplus_folders(root, split)


def _stack(images: list[np.ndarray], votes: list[np.ndarray], names: list[str]) -> FerSplit:
    if not images:
        return FerSplit(
            np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros((0, len(VOTE_COLUMNS)), np.float32), ()
        )
    return FerSplit(np.stack(images), np.stack(votes).astype(np.float32), tuple(names))
