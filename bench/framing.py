"""How the pipeline's detectors frame a FER tile: the measurement behind ``ml.faces.CROP_MARGIN``.

    python bench/framing.py [--faces 1200] [--json out.json]

The classifier learned from FER2013's 48x48 tiles, so a crop should frame a face as a tile does.
Each FER2013Valid tile is upscaled to 96 px and set in a canvas three tiles wide whose border
repeats the tile's edge (a flat border breaks Haar's features at the tile's edge); each detector
then looks for the face near the centre. Printed per detector: how many tiles it found, the box's
longer side over the tile side (median and quartiles), the box centre's offset from the tile
centre, and the box's height over width. A tile is ``1 / ratio`` boxes wide, so the crop margin
per side that reproduces it is ``(1 / ratio - 1) / 2``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.faces import CROP_MARGIN, YuNetDetector

VALID = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus" / "images" / "FER2013Valid"
TILE = 96


def _central(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """The largest box whose centre lies on the tile (not on the repeated border)."""
    lo, hi = TILE * 0.8, TILE * 2.2
    inside = [b for b in boxes if lo < b[0] + b[2] / 2 < hi and lo < b[1] + b[3] / 2 < hi]
    return max(inside, key=lambda b: b[2] * b[3]) if inside else None


def measure(files: list[Path]) -> dict[str, dict[str, float]]:
    folder = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
    cascades = {
        name: cv2.CascadeClassifier(str(folder / f"haarcascade_frontalface_{name}.xml")) for name in ("default", "alt2")
    }
    yunet = YuNetDetector()
    found: dict[str, list[tuple[float, float, float, float]]] = {"haar": [], "haar_alt2": [], "yunet": []}
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise OSError(f"cannot read {path}")
        tile = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.copyMakeBorder(tile, TILE, TILE, TILE, TILE, cv2.BORDER_REPLICATE)
        gray = cv2.equalizeHist(canvas)
        boxes = {
            "haar" if name == "default" else "haar_alt2": [
                tuple(int(v) for v in b)
                for b in np.asarray(cascade.detectMultiScale(gray, 1.1, 3, minSize=(40, 40))).reshape(-1, 4)
            ]
            for name, cascade in cascades.items()
        }
        color = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
        boxes["yunet"] = [b.as_tuple() for b in yunet.detect(color, long_side=3 * TILE, min_fraction=0.1)]
        for name, candidates in boxes.items():
            box = _central(candidates)  # type: ignore[arg-type]
            if box is not None:
                x, y, w, h = box
                centre = ((x + w / 2) / TILE - 1.5, (y + h / 2) / TILE - 1.5)
                found[name].append((max(w, h) / TILE, *centre, h / w))
    report: dict[str, dict[str, float]] = {}
    for name, rows in found.items():
        a = np.asarray(rows)
        q25, median, q75 = np.percentile(a[:, 0], [25, 50, 75])
        report[name] = {
            "found": len(a),
            "side_over_tile": round(float(median), 3),
            "side_q25": round(float(q25), 3),
            "side_q75": round(float(q75), 3),
            "centre_dx": round(float(np.median(a[:, 1])), 3),
            "centre_dy": round(float(np.median(a[:, 2])), 3),
            "height_over_width": round(float(np.median(a[:, 3])), 3),
            "margin_reproducing_tile": round(float((1 / median - 1) / 2), 3),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=1200, help="first N Valid tiles, by name")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    files = sorted(VALID.glob("*.png"))[: args.faces]
    if not files:
        sys.exit(f"no FER2013Valid tiles under {VALID}")
    report = measure(files)
    print(f"{len(files)} FER2013Valid tiles; ml.faces.CROP_MARGIN = {CROP_MARGIN}")
    for name, row in report.items():
        print(
            f"{name:10s} found {row['found']:5.0f}  box side / tile {row['side_over_tile']:.3f} "
            f"(q25 {row['side_q25']:.3f}, q75 {row['side_q75']:.3f})  centre offset "
            f"({row['centre_dx']:+.3f}, {row['centre_dy']:+.3f})  h/w {row['height_over_width']:.2f}  "
            f"margin reproducing the tile {row['margin_reproducing_tile']:+.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
