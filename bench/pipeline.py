"""Pipeline throughput against decode-only throughput on the same 720p input, in one run.

    python bench/pipeline.py [--minutes 2] [--fps 2] [--json out.json]

Decode-only decodes every frame without converting any (the floor the pipeline cannot beat: the
codec needs every frame). The pipeline run is ``analyze_range`` end to end: sampling, conversion,
Haar detection, cropping, ONNX classification. Both are reported as video seconds per wall second.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.inputs import build_720p_base, build_looped
from ml.classifier import EmotionClassifier
from ml.pipeline import analyze_range
from ml.video import probe

TARGET_RATIO = 0.8
TARGET_REALTIME = 10.0


def decode_only(path: Path) -> float:
    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - started


def pipeline(path: Path, fps: float, classifier: EmotionClassifier) -> tuple[float, int, int]:
    started = time.perf_counter()
    frames = list(analyze_range(path, fps=fps, classifier=classifier))
    return time.perf_counter() - started, len(frames), sum(f.face for f in frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    base = build_720p_base(args.workdir / "base_720p.mp4")
    video = build_looped(base, args.workdir / f"loop_{args.minutes:g}min_720p.mp4", args.minutes)
    duration = probe(video).duration_s
    classifier = EmotionClassifier.load()
    decode_only(base)  # warm the page cache and the codec
    decode_s = decode_only(video)
    pipeline_s, samples, faces = pipeline(video, args.fps, classifier)
    decode_rate, pipeline_rate = duration / decode_s, duration / pipeline_s
    ratio = pipeline_rate / decode_rate
    print(
        f"720p, {duration:.0f} s of video, {args.fps:g} samples/s ({samples} samples, {faces} with a face)\n"
        f"decode-only {decode_rate:.1f}x real time | pipeline {pipeline_rate:.1f}x real time | "
        f"ratio {ratio:.2f} (target >= {TARGET_RATIO}) | real-time target >= {TARGET_REALTIME:g}x: "
        f"{'met' if pipeline_rate >= TARGET_REALTIME else 'NOT met'}"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "video_s": duration,
                    "decode_only_x_realtime": round(decode_rate, 2),
                    "pipeline_x_realtime": round(pipeline_rate, 2),
                    "ratio": round(ratio, 3),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
