"""``--faces all`` throughput on a 720p gallery call, against ``--faces subject`` and decode-only
on the same file, in one run.

    python bench/participants.py [--seconds 60] [--fps 2] [--repeats 3] [--json out.json]

The input is a 2x2 gallery of four different people at 1280x720, 30 fps, built from the shared
clips (``bench.calls``). Each figure is video seconds per wall second (median of ``--repeats``
after a warm-up), with CPU seconds beside it: on a shared machine the wall clock moves with other
load, the CPU cost does not. Where the time goes is printed too: detection, descriptors, the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.calls import PEOPLE, build_gallery
from bench.pipeline import decode_only, timed
from ml.classifier import EmotionClassifier
from ml.identity import FaceDescriber
from ml.pipeline import analyze_samples, load_classifier
from ml.tracking import WindowedDetection
from ml.video import probe

TARGET_REALTIME = 10.0


def faces_all(path: Path, fps: float, classifier: EmotionClassifier) -> tuple[int, int]:
    samples = list(analyze_samples(path, fps=fps, classifier=classifier, faces="all"))
    return len(samples), sum(len(observed or []) for _, observed in samples)


def subject(path: Path, fps: float, classifier: EmotionClassifier) -> int:
    return sum(1 for _ in analyze_samples(path, fps=fps, classifier=classifier))


class _Timed:
    """Wraps a method to add up its wall time and the length of its results (single-threaded
    callers only)."""

    def __init__(self, owner: object, name: str) -> None:
        self.total, self.calls, self.items = 0.0, 0, 0
        inner = getattr(owner, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                result = inner(*args, **kwargs)
                self.items += len(result)
                return result
            finally:
                self.total += time.perf_counter() - started
                self.calls += 1

        setattr(owner, name, wrapper)


def breakdown(path: Path, fps: float, classifier: EmotionClassifier) -> dict[str, float]:
    """Wall seconds spent detecting and describing during one ``--faces all`` pass."""
    detect = _Timed(WindowedDetection, "detect")
    describe = _Timed(FaceDescriber, "describe")
    started = time.perf_counter()
    faces_all(path, fps, classifier)
    total = time.perf_counter() - started
    return {
        "total_s": total,
        "detect_s": detect.total,
        "describe_s": describe.total,
        "described": describe.calls,
        "described_faces": describe.items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    video = build_gallery(
        args.workdir / f"gallery-2x2-{args.seconds:g}s.mp4", PEOPLE[:4], cols=2, rows=2, seconds=args.seconds, fps=30
    ).path
    duration = probe(video).duration_s
    classifier = load_classifier()
    runs: dict[str, Callable[[], object]] = {
        "decode-only": lambda: decode_only(video),
        "faces-subject": lambda: subject(video, args.fps, classifier),
        "faces-all": lambda: faces_all(video, args.fps, classifier),
    }
    samples, faces = faces_all(video, args.fps, classifier)  # warm the page cache, the codec and the models
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            measured[name].append(timed(run))
    wall = {name: statistics.median(w for w, _ in values) for name, values in measured.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in measured.items()}
    rate = {name: duration / seconds for name, seconds in wall.items()}
    parts = breakdown(video, args.fps, classifier)
    print(f"720p 2x2 gallery, {duration:.0f} s, {args.fps:g} samples/s: {samples} samples, {faces} faces")
    print(" | ".join(f"{name} {rate[name]:.1f}x real time ({cpu[name]:.1f} CPU-s)" for name in runs))
    print(
        f"faces-all {rate['faces-all']:.1f}x real time (target >= {TARGET_REALTIME:g}x: "
        f"{'met' if rate['faces-all'] >= TARGET_REALTIME else 'NOT met'}); "
        f"one pass: {parts['total_s']:.1f} s, detection {parts['detect_s']:.1f} s, "
        f"descriptors {parts['describe_s']:.1f} s for {parts['described_faces']:.0f} faces "
        f"over {parts['described']:.0f} calls"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "video_s": duration,
                    "sample_fps": args.fps,
                    "repeats": args.repeats,
                    "faces": faces,
                    **{f"{name.replace('-', '_')}_x_realtime": round(rate[name], 2) for name in runs},
                    **{f"{name.replace('-', '_')}_cpu_s": round(cpu[name], 2) for name in runs},
                    **{key: round(value, 2) for key, value in parts.items()},
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
