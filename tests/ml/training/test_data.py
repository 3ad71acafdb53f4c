"""FER+ loading: both user layouts give the same faces, and the protocols drop what FER+ drops."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml import EMOTIONS
from ml.training.data import (
    load_fer2013_csv,
    load_ferplus_folders,
    load_split,
    majority_labels,
    soft_labels,
    trainable_mask,
)

HEADER = ["Usage", "Image name", *EMOTIONS, "unknown", "NF"]
# (usage, name, votes): a clear majority, a plurality without majority, unknown on top, a row FER+
# dropped (no name), a name listed twice (ambiguous, dropped), and a test row.
ROWS = [
    ("Training", "fer0000000.png", [8, 0, 0, 1, 1, 0, 0, 0, 0, 0]),
    ("Training", "fer0000001.png", [4, 4, 0, 0, 0, 0, 0, 0, 2, 0]),
    ("Training", "fer0000002.png", [0, 0, 0, 0, 0, 0, 0, 0, 7, 3]),
    ("Training", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),
    ("Training", "fer0000004.png", [0, 0, 0, 0, 9, 1, 0, 0, 0, 0]),
    ("PublicTest", "fer0000004.png", [0, 0, 0, 0, 9, 1, 0, 0, 0, 0]),
    ("PrivateTest", "fer0000006.png", [0, 0, 2, 0, 0, 0, 6, 0, 1, 1]),
]


def _face(index: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, (48, 48), dtype=np.uint8)


@pytest.fixture()
def both_layouts(tmp_path: Path) -> tuple[Path, Path]:
    """The same tiny dataset as FERPlus image folders and as Kaggle's fer2013.csv."""
    folders, kaggle = tmp_path / "folders", tmp_path / "kaggle"
    for root in (folders, kaggle):
        root.mkdir()
        with (root / "fer2013new.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for usage, name, votes in ROWS:
                writer.writerow([usage, name, *votes])
    with (kaggle / "fer2013.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for index, (usage, _, _) in enumerate(ROWS):
            writer.writerow([0, " ".join(map(str, _face(index).ravel())), usage])
    folder_of = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    for index, (usage, name, _) in enumerate(ROWS):
        if name:
            target = folders / "images" / folder_of[usage]
            target.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target / name), _face(index))
    return folders, kaggle


def test_both_layouts_load_identically(both_layouts: tuple[Path, Path]) -> None:
    folders, kaggle = both_layouts
    for split in ("train", "valid", "test"):
        a = load_ferplus_folders(folders, split)
        b = load_fer2013_csv(kaggle / "fer2013.csv", kaggle / "fer2013new.csv", split)
        assert a.names == b.names
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.votes, b.votes)
        c = load_split(kaggle, split)
        assert c.names == a.names


def test_rows_without_image_and_duplicated_names_are_dropped(both_layouts: tuple[Path, Path]) -> None:
    train = load_split(both_layouts[0], "train")
    assert train.names == ("fer0000000.png", "fer0000001.png", "fer0000002.png")
    assert len(load_split(both_layouts[0], "valid")) == 0
    test = load_split(both_layouts[1], "test")
    np.testing.assert_array_equal(test.images[0], _face(6))


def test_kaggle_csv_with_wrong_row_count_is_refused(both_layouts: tuple[Path, Path]) -> None:
    kaggle = both_layouts[1]
    lines = (kaggle / "fer2013.csv").read_text().splitlines()
    (kaggle / "fer2013.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="rows"):
        load_fer2013_csv(kaggle / "fer2013.csv", kaggle / "fer2013new.csv", "train")


def test_majority_protocol() -> None:
    votes = np.array([row for _, _, row in ROWS], np.float32)
    labels = majority_labels(votes)
    # 8 of 10 neutral (single votes removed) -> neutral; 4/4 tie -> dropped; unknown on top -> dropped;
    # anger 9 -> anger; fear 6 of remaining 8 (surprise 2; single votes gone) -> fear.
    assert labels.tolist() == [0, -1, -1, -1, 4, 4, 6]


def test_soft_labels_remove_single_votes_and_sum_to_one() -> None:
    votes = np.array([[5, 3, 1, 0, 1, 0, 0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(soft_labels(votes)[0], [5 / 8, 3 / 8, 0, 0, 0, 0, 0, 0])
    assert trainable_mask(np.array([[0, 0, 0, 0, 0, 0, 0, 0, 9, 1]], np.float32)).tolist() == [False]


def test_real_ferplus_counts_match_the_reference(ferplus_dir: Path) -> None:
    """The majority-vote class counts published with the data (shared/README.md)."""
    expected = {
        "train": [8738, 7287, 3149, 3012, 2098, 119, 532, 119],
        "valid": [1182, 865, 415, 351, 287, 24, 62, 13],
        "test": [1089, 893, 396, 384, 273, 18, 83, 16],
    }
    for split in ("valid", "test"):
        counts = Counter(majority_labels(load_split(ferplus_dir, split).votes).tolist())
        assert [counts[i] for i in range(len(EMOTIONS))] == expected[split]
