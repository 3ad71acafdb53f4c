"""Fixtures for the pipeline tests: sample clips, a shared classifier, and generated bad inputs."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ml.classifier import EmotionClassifier
from tests.recordings import write_audio_only as write_audio_only  # re-exported for the ml tests

TALKING_HEADS = (
    "retalking_face_1.mp4",
    "retalking_face_2.mp4",
    "retalking_face_3.mp4",
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
)


@pytest.fixture(scope="session")
def classifier() -> EmotionClassifier:
    return EmotionClassifier.load()


# Fast settings keep the suite quick on two cores; x264's "veryfast" still writes B-frames.
ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
    "mpeg4": {"bf": "2"},  # MPEG-4 Part 2 with B-frames, as old AVI recorders write
}


def reencode(source: Path, target: Path, *, codec: str, seconds: float, pix_fmt: str = "yuv420p") -> Path:
    """The first ``seconds`` of ``source`` re-encoded with ``codec`` into ``target``'s container."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        in_stream = inp.streams.video[0]
        rate = Fraction(25, 1)
        stream = out.add_stream(codec, rate=rate, options=ENCODER_OPTIONS.get(codec, {}))
        assert isinstance(stream, av.VideoStream), f"{codec} is not a video codec"
        stream.width, stream.height = in_stream.codec_context.width // 2 * 2, in_stream.codec_context.height // 2 * 2
        stream.pix_fmt = pix_fmt
        for index, frame in enumerate(inp.decode(in_stream)):
            if frame.time is not None and frame.time >= seconds:
                break
            image = frame.to_ndarray(format="rgb24")[: stream.height, : stream.width]
            new = av.VideoFrame.from_ndarray(image, format="rgb24")
            new.pts = index
            new.time_base = 1 / rate
            for packet in stream.encode(new):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def write_zero_frames(target: Path) -> Path:
    with av.open(str(target), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 64, 64
        stream.pix_fmt = "yuv420p"
        out.start_encoding()  # header and an empty track, no frame
    return target


def write_rotated(target: Path) -> Path:
    """A 64x32 clip, left half white, whose MP4 track matrix says "display rotated 90 degrees
    clockwise" (what phones write for portrait video). PyAV cannot set the matrix, so the test
    writes it into the ``tkhd`` box directly (version 0 layout, ISO/IEC 14496-12 8.3.2)."""
    plain = target.with_name("plain_" + target.name)
    with av.open(str(plain), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for index in range(10):
            image = np.zeros((32, 64, 3), np.uint8)
            image[:, :32] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = bytearray(plain.read_bytes())
    box = data.find(b"tkhd")
    assert box > 0 and data[box + 4] == 0, "expected a version-0 tkhd box"
    matrix_at = box + 4 + 24 + 8 + 8  # version/flags + times/ids/duration, reserved, layer..volume
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 0x40000000)
    target.write_bytes(bytes(data))
    return target


def write_variable_rate(target: Path, times_ms: list[int]) -> Path:
    """A 64x64 H.264 clip with frames at exactly ``times_ms``; frame ``i`` is a flat grey of ``15 * i``."""
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for index, t_ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 15 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t_ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target
