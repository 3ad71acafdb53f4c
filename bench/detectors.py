"""Face detectors compared by recall and cost: Haar, YuNet, and Haar with YuNet on the samples
Haar misses, on the shared clips and on a 3x3 gallery call at 720p.

    python bench/detectors.py [--fps 2] [--json out.json]

- clips: every 2-fps sample of the shared clips that show one face throughout (recall: share of
  samples where a face is found), at the subject pipeline's 320-px detection size;
- gallery: a 3x3 gallery of nine people at 1280x720 (``bench.calls``; recall: share of the nine
  tiles found per sample), at 320 px and at the adapted size ``--faces all`` picks
  (``ml.tracking``);
- cost: median milliseconds per full-frame pass on the clips' samples.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.calls import PEOPLE, build_gallery
from bench.inputs import SHARED_VIDEOS
from ml.faces import DETECT_LONG_SIDE, Box, FaceDetector, make_detector
from ml.tracking import ALL_MIN_FACE_FRACTION, adapted_long_side
from ml.video import iter_sampled_frames

ONE_FACE_CLIPS = (
    *PEOPLE,
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
)


def _timed_detect(detector: FaceDetector, image: object, **kwargs: object) -> tuple[list[Box], float]:
    started = time.perf_counter()
    boxes = detector.detect(image, **kwargs)  # type: ignore[arg-type]
    return boxes, (time.perf_counter() - started) * 1000


def clips_recall(fps: float) -> dict[str, float]:
    haar, yunet = make_detector("haar"), make_detector("yunet")
    found = {"haar": 0, "yunet": 0, "haar+yunet": 0}
    cost: dict[str, list[float]] = {"haar": [], "yunet": []}
    samples = 0
    for name in ONE_FACE_CLIPS:
        for item in iter_sampled_frames(SHARED_VIDEOS / name, fps=fps):
            samples += 1
            by_haar, haar_ms = _timed_detect(haar, item.image)
            by_yunet, yunet_ms = _timed_detect(yunet, item.image)
            cost["haar"].append(haar_ms)
            cost["yunet"].append(yunet_ms)
            found["haar"] += bool(by_haar)
            found["yunet"] += bool(by_yunet)
            found["haar+yunet"] += bool(by_haar or by_yunet)
    haar_miss = 1 - found["haar"] / samples
    result = {f"recall_{k}": round(v / samples, 3) for k, v in found.items()}
    result |= {f"ms_{k}": round(statistics.median(v), 1) for k, v in cost.items()}
    result["ms_haar+yunet"] = round(result["ms_haar"] + haar_miss * result["ms_yunet"], 1)
    result["samples"] = samples
    return result


def gallery_recall(workdir: Path, fps: float) -> dict[str, float]:
    gallery = build_gallery(workdir / "gallery-3x3-12s.mp4", PEOPLE[:9], cols=3, rows=3, seconds=12)
    result: dict[str, float] = {}
    for name in ("haar", "yunet"):
        detector = make_detector(name)
        for label in ("320", "adapted"):
            hits, samples, costs = 0, 0, []
            for item in iter_sampled_frames(gallery.path, fps=fps):
                long_side = DETECT_LONG_SIDE
                if label == "adapted":
                    probe = detector.detect(
                        item.image, long_side=detector.probe_long_side, min_fraction=ALL_MIN_FACE_FRACTION
                    )
                    long_side = adapted_long_side(item.image.shape, probe, detector.face_target_px)
                boxes, ms = _timed_detect(detector, item.image, long_side=long_side, min_fraction=ALL_MIN_FACE_FRACTION)
                costs.append(ms)
                tiles = set()
                for box in boxes:
                    cx, cy = box.x + box.w / 2, box.y + box.h / 2
                    tiles |= {i for i, (x, y, w, h) in enumerate(gallery.tiles) if x <= cx < x + w and y <= cy < y + h}
                hits += len(tiles)
                samples += 1
            result[f"gallery_recall_{name}_{label}"] = round(hits / (9 * samples), 3)
            result[f"gallery_ms_{name}_{label}"] = round(statistics.median(costs), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    clips = clips_recall(args.fps)
    gallery = gallery_recall(args.workdir, args.fps)
    print(
        f"shared clips, {clips['samples']:.0f} samples with one face, 320 px: recall haar {clips['recall_haar']:.3f} "
        f"({clips['ms_haar']:.1f} ms/pass), yunet {clips['recall_yunet']:.3f} ({clips['ms_yunet']:.1f} ms/pass), "
        f"haar+yunet on haar's misses {clips['recall_haar+yunet']:.3f} ({clips['ms_haar+yunet']:.1f} ms/sample)"
    )
    for name in ("haar", "yunet"):
        print(
            f"3x3 gallery at 720p, tiles found: {name} {gallery[f'gallery_recall_{name}_320']:.3f} at 320 px "
            f"({gallery[f'gallery_ms_{name}_320']:.1f} ms), {gallery[f'gallery_recall_{name}_adapted']:.3f} at the "
            f"adapted size ({gallery[f'gallery_ms_{name}_adapted']:.1f} ms)"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({**clips, **gallery}, indent=2) + "\n")


if __name__ == "__main__":
    main()
