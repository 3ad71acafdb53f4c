"""Recordings the tests build: a faststart remux of a shared clip (header first, so a cut keeps
the header and loses frames), a file cut short at a fraction of its length, an audio-only file."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from bench.inputs import faststart_copy as faststart_copy  # one remux for the tests and the benchmarks


def cut_copy(source: Path, target: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def write_audio_only(target: Path, seconds: float = 1.0) -> Path:
    with av.open(str(target), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        samples = int(44100 * seconds)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
        for start in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target
