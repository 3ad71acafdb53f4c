"""Decoding and sampling: every shared clip, other containers and codecs, and each bad input."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import NotRequired, TypedDict

import av
import numpy as np
import pytest

from ml.errors import BadTimeRange, EmptyVideo, NotAVideo, NoVideoStream, TruncatedVideo, VideoNotFound
from ml.video import _iter_decoded, iter_sampled_frames, probe
from tests.ml.conftest import (
    reencode,
    write_audio_only,
    write_rotated,
    write_variable_rate,
    write_zero_frames,
)


class Sampling(TypedDict):
    """Arguments of ``iter_sampled_frames``, as the parametrized tests give them."""

    fps: float
    start_s: NotRequired[float]
    end_s: NotRequired[float]


def _times(path: Path, *, fps: float, every_nth: int | None = None) -> list[int]:
    return [frame.t_ms for frame in iter_sampled_frames(path, fps=fps, every_nth=every_nth)]


def test_every_shared_clip_probes_and_samples_on_the_grid(videos_dir: Path) -> None:
    clips = sorted(p for p in videos_dir.iterdir() if p.suffix in {".mp4", ".mov"})
    assert len(clips) >= 10
    for clip in clips:
        info = probe(clip)
        assert info.duration_s > 0 and info.width > 0 and info.height > 0 and info.fps > 0
        times = _times(clip, fps=2.0)
        assert times[0] < 100, clip.name
        # One sample per half-second grid cell, taken at or after the grid point.
        cells = [t // 500 for t in times]
        assert cells == sorted(set(cells)), clip.name
        assert len(times) >= int(info.duration_s * 2) - 1, clip.name


def test_chunks_concatenated_equal_the_whole(videos_dir: Path) -> None:
    clip = videos_dir / "liveportrait_driving_d6.mp4"  # 33.6 s
    whole = list(iter_sampled_frames(clip, fps=2.0))
    parts = [
        frame
        for start, end in ((0, 10), (10, 20), (20, None))
        for frame in iter_sampled_frames(clip, fps=2.0, start_s=start, end_s=end)
    ]
    assert [f.t_ms for f in parts] == [f.t_ms for f in whole]
    assert all((a.image == b.image).all() for a, b in zip(parts, whole, strict=True))


def test_every_nth_frame_sampling(videos_dir: Path) -> None:
    clip = videos_dir / "retalking_face_2.mp4"  # 25 fps
    times = _times(clip, fps=1.0, every_nth=5)
    assert times[:4] == [0, 200, 400, 600]


@pytest.mark.parametrize(
    ("suffix", "codec", "pix_fmt"),
    [
        (".mkv", "libvpx-vp9", "yuv420p"),
        (".webm", "libvpx", "yuv420p"),
        (".avi", "mjpeg", "yuvj420p"),
        (".mp4", "hevc", "yuv420p"),
        (".mov", "h264", "yuv420p"),
        (".mkv", "mpeg4", "yuv420p"),
    ],
)
def test_common_containers_and_codecs_decode(
    videos_dir: Path, tmp_path: Path, suffix: str, codec: str, pix_fmt: str
) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    clip = reencode(
        videos_dir / "retalking_face_3.mp4", tmp_path / f"clip{suffix}", codec=codec, seconds=2.0, pix_fmt=pix_fmt
    )
    info = probe(clip)
    assert info.width > 0 and abs(info.duration_s - 2.0) < 0.2
    sampled = list(iter_sampled_frames(clip, fps=2.0))
    assert [f.t_ms for f in sampled] == [0, 520, 1000, 1520]
    # Whatever the codec skipped, the samples are those of a decode of every frame.
    expected = _reference_samples(clip, 2.0)
    assert all((f.image == image).all() for f, (_, image) in zip(sampled, expected, strict=True))


def test_missing_empty_and_non_video_files(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFound):
        probe(tmp_path / "absent.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotAVideo):
        probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is a session note, not a video\n" * 50)
    with pytest.raises(NotAVideo):
        probe(text)


def test_truncated_file(videos_dir: Path, tmp_path: Path) -> None:
    data = (videos_dir / "liveportrait_driving_d6.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])
    with pytest.raises(TruncatedVideo):
        probe(cut)
        list(iter_sampled_frames(cut, fps=2.0))


def test_audio_only_and_zero_frame_videos(tmp_path: Path) -> None:
    with pytest.raises(NoVideoStream):
        probe(write_audio_only(tmp_path / "voice.m4a"))
    # FFmpeg reports a track that never received a frame as no stream at all.
    with pytest.raises((EmptyVideo, NoVideoStream)):
        probe(write_zero_frames(tmp_path / "nothing.mp4"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 0.0},
        {"fps": -1.0},
        {"fps": 1e6},
        {"fps": float("nan")},
        {"fps": 2.0, "start_s": 5, "end_s": 2},
        {"fps": 2.0, "start_s": -1},
    ],
)
def test_absurd_sampling_parameters(videos_dir: Path, kwargs: Sampling) -> None:
    with pytest.raises(BadTimeRange):
        list(iter_sampled_frames(videos_dir / "retalking_face_1.mp4", **kwargs))


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    clip = write_rotated(tmp_path / "portrait.mp4")
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    image = next(iter_sampled_frames(clip, fps=2.0)).image
    assert image.shape[:2] == (64, 32)
    # Turned clockwise, the white left half of the stored picture is on top.
    assert image[:24].mean() > 200 and image[-24:].mean() < 50


def _reference_samples(path: Path, fps: float) -> list[tuple[int, np.ndarray]]:
    """The sampling rule applied to every decoded frame: each grid cell takes its earliest frame."""
    samples: list[tuple[int, np.ndarray]] = []
    last_cell = -1
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        for frame in container.decode(stream):
            assert frame.pts is not None and stream.time_base is not None
            t = Fraction(frame.pts - origin) * stream.time_base
            if math.floor(t * Fraction(fps)) > last_cell:
                samples.append((round(t * 1000), frame.to_ndarray(format="bgr24")))
                last_cell = math.floor(t * Fraction(fps))
    return samples


@pytest.mark.parametrize("fps", [2.0, 7.0])
def test_skipped_frames_never_change_the_samples(videos_dir: Path, tmp_path: Path, fps: float) -> None:
    # libx264's default preset writes B-frames, most of them never referenced: the decoder skips
    # those outside a cell's first frame. The samples must be exactly those of a full decode.
    clip = reencode(videos_dir / "liveportrait_driving_d3.mp4", tmp_path / "bframes.mp4", codec="libx264", seconds=4.0)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        total = sum(1 for _ in container.decode(stream))
        container.seek(0)
        decoded = sum(1 for _ in _iter_decoded(container, stream, step=Fraction(fps), origin=0))
    assert decoded < total  # the optimisation is really on
    expected = _reference_samples(clip, fps)
    sampled = list(iter_sampled_frames(clip, fps=fps))
    assert [f.t_ms for f in sampled] == [t for t, _ in expected]
    assert all((f.image == image).all() for f, (_, image) in zip(sampled, expected, strict=True))
    every_frame = list(iter_sampled_frames(clip, fps=1.0, every_nth=1))
    assert len(every_frame) == total


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_samples_by_timestamp(tmp_path: Path, suffix: str) -> None:
    # Bursts, a 1.1-s freeze and an empty grid cell (2.0-2.5 s), as screen-sharing recorders write.
    times_ms = [0, 40, 80, 300, 700, 710, 720, 1490, 1510, 2600, 2650, 3000, 3100]
    clip = write_variable_rate(tmp_path / f"vfr{suffix}", times_ms)
    sampled = list(iter_sampled_frames(clip, fps=2.0))
    # Each half-second cell takes its earliest frame; the empty cell yields nothing, nothing is invented.
    assert [f.t_ms for f in sampled] == [0, 700, 1490, 1510, 2600, 3000]
    indices = [times_ms.index(f.t_ms) for f in sampled]
    assert [round(float(f.image.mean()) / 15) for f in sampled] == indices  # the pixels of that very frame
    assert [f.t_ms for f in iter_sampled_frames(clip, fps=2.0, start_s=1.5, end_s=3.0)] == [1510, 2600]


def test_zero_frame_video_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyVideo):
        probe(write_zero_frames(tmp_path / "nothing.avi"))
