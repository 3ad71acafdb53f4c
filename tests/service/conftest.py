"""Fixtures for the service tests: the real services (``services.py``) and generated bad inputs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.service.services import (  # noqa: F401  (fixtures)
    api_url,
    database_url,
    make_client,
    redis_url,
    service_env,
    service_home,
    settings,
    workers,
)

SHORT_CLIP = "pyfeat_single_face.mp4"  # 2.4 s: one chunk, cheap
TWO_CHUNK_CLIP = "liveportrait_driving_d3.mp4"  # 11.8 s: two 10-s chunks
LONG_CLIP = "liveportrait_driving_d6.mp4"  # 33.6 s: four 10-s chunks


@pytest.fixture(scope="session")
def short_clip(videos_dir: Path) -> Path:
    return videos_dir / SHORT_CLIP


@pytest.fixture(scope="session")
def two_chunk_clip(videos_dir: Path) -> Path:
    return videos_dir / TWO_CHUNK_CLIP


@pytest.fixture(scope="session")
def long_clip(videos_dir: Path) -> Path:
    return videos_dir / LONG_CLIP


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory, long_clip: Path) -> dict[str, Path]:
    """Files that must be refused: text, audio only, a cut-off container, a cut-off stream."""
    folder = tmp_path_factory.mktemp("bad-inputs")
    text = folder / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 20)
    audio = folder / "voice.m4a"
    with av.open(str(audio), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 8) * 8000).astype(np.int16).reshape(1, -1)
        for start in range(0, 16000, 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, start : start + 1024], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    whole = long_clip.read_bytes()
    cut_container = folder / "cut_container.mp4"
    cut_container.write_bytes(whole[: len(whole) // 3])  # moov at the end of this file: unreadable
    faststart = folder / "faststart.mp4"
    with av.open(str(long_clip)) as inp, av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)
    data = faststart.read_bytes()
    cut_stream = folder / "cut_stream.mp4"
    cut_stream.write_bytes(data[: len(data) // 2])  # header intact, second half of the frames gone
    return {"text": text, "audio": audio, "cut_container": cut_container, "cut_stream": cut_stream}
