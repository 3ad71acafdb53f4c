"""Rebuild samples/session.mp4 from its source clip: ``python samples/build.py [SOURCE]``.

The sample is what the README's first command analyses, so it ships in the repository (a few
hundred KB) while the larger clips stay in ``../shared``. It is the first 20 s of LivePortrait's
driving clip d6 (MIT; see SOURCE.md), scaled to 320x320 at 15 frames per second, H.264 with
fixed encoder settings on one thread: the same source and PyAV version give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from fractions import Fraction
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "videos" / "liveportrait_driving_d6.mp4"
OUTPUT = HERE / "session.mp4"
DURATION_S = 20.0
SIZE = 320
FPS = 15
ENCODER_OPTIONS = {"crf": "27", "preset": "slow", "profile": "high", "x264-params": "threads=1:keyint=150:bframes=2"}


def build(source: Path, output: Path) -> str:
    """Write the sample and return its sha256."""
    with av.open(str(source)) as inp, av.open(str(output), "w", options={"movflags": "+faststart"}) as out:
        out.metadata.clear()
        stream = out.add_stream("libx264", rate=FPS, options=ENCODER_OPTIONS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.thread_count = 1
        written = 0
        for frame in inp.decode(video=0):
            if frame.time is None or frame.time >= DURATION_S:
                break
            if frame.time + 1e-6 < written / FPS:  # keep the frame at or after each 1/FPS tick
                continue
            picture = frame.reformat(width=SIZE, height=SIZE, format="yuv420p")
            picture.pts, picture.time_base = written, Fraction(1, FPS)
            out.mux(stream.encode(picture))
            written += 1
        out.mux(stream.encode(None))
    return hashlib.sha256(output.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    if not args.source.is_file():
        parser.error(f"source clip not found: {args.source} (it is in ../shared/videos)")
    digest = build(args.source, args.out)
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
