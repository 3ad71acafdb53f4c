"""Pipeline throughput against decode-only throughput on the same 720p input, in one run.

    python bench/pipeline.py [--minutes 2] [--fps 2] [--repeats 3] [--json out.json]

Three measurements on the same file, interleaved and repeated (median of ``--repeats``, after a
warm-up), each as video seconds per wall second:

- decode-only: every frame decoded, none converted (the plain PyAV loop a naive pipeline starts
  from; the baseline of the ratio);
- sampling: ``iter_sampled_frames`` alone, i.e. the pipeline's decode stage: the codec skips
  non-reference frames that no sample can use, and only sampled frames are converted;
- pipeline: ``analyze_range`` end to end: sampling, Haar detection, cropping, ONNX classification.

CPU seconds (user + system, all threads) are printed beside each figure: on a shared machine the
wall-clock ratio moves with other load, the CPU cost does not.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.inputs import base_720p, looped_720p
from ml.classifier import EmotionClassifier
from ml.pipeline import analyze_range, load_classifier
from ml.video import iter_sampled_frames, probe

TARGET_RATIO = 0.8
TARGET_REALTIME = 10.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    cpu, started = _cpu_s(), time.perf_counter()
    run()
    return time.perf_counter() - started, _cpu_s() - cpu


def decode_only(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def sampling(path: Path, fps: float) -> int:
    return sum(1 for _ in iter_sampled_frames(path, fps=fps))


def pipeline(path: Path, fps: float, classifier: EmotionClassifier) -> tuple[int, int]:
    frames = list(analyze_range(path, fps=fps, classifier=classifier))
    return len(frames), sum(f.face for f in frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    base = base_720p(args.workdir)
    video = looped_720p(args.workdir, args.minutes)
    duration = probe(video).duration_s
    classifier = load_classifier()
    runs: dict[str, Callable[[], object]] = {
        "decode-only": lambda: decode_only(video),
        "sampling": lambda: sampling(video, args.fps),
        "pipeline": lambda: pipeline(video, args.fps, classifier),
    }
    decode_only(base)  # warm the page cache, the codec and the model
    pipeline(base, args.fps, classifier)
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            measured[name].append(timed(run))
    wall = {name: statistics.median(w for w, _ in values) for name, values in measured.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in measured.items()}
    rate = {name: duration / seconds for name, seconds in wall.items()}
    samples, faces = pipeline(base, args.fps, classifier)
    ratio = rate["pipeline"] / rate["decode-only"]
    print(
        f"720p H.264, {duration:.0f} s of video, {args.fps:g} samples/s, median of {args.repeats} "
        f"(base clip: {samples} samples, {faces} with a face)"
    )
    print(" | ".join(f"{name} {rate[name]:.1f}x real time ({cpu[name]:.1f} CPU-s)" for name in runs))
    print(
        f"ratio pipeline/decode-only {ratio:.2f} (target >= {TARGET_RATIO}) | pipeline "
        f"{rate['pipeline']:.1f}x real time (target >= {TARGET_REALTIME:g}x: "
        f"{'met' if rate['pipeline'] >= TARGET_REALTIME else 'NOT met'}) | "
        f"CPU per video second: decode-only {cpu['decode-only'] / duration * 1000:.0f} ms, "
        f"pipeline {cpu['pipeline'] / duration * 1000:.0f} ms"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "video_s": duration,
                    "sample_fps": args.fps,
                    "repeats": args.repeats,
                    **{f"{name.replace('-', '_')}_x_realtime": round(rate[name], 2) for name in runs},
                    **{f"{name.replace('-', '_')}_cpu_s": round(cpu[name], 2) for name in runs},
                    "ratio": round(ratio, 3),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
