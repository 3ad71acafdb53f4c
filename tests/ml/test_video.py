"""Decoding and sampling: every shared clip, other containers and codecs, and each bad input."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from ml.errors import BadTimeRange, EmptyVideo, NotAVideo, NoVideoStream, TruncatedVideo, VideoNotFound
from ml.video import iter_sampled_frames, probe
from tests.ml.conftest import reencode, write_audio_only, write_rotated, write_zero_frames


def _times(path: Path, **kwargs: float) -> list[int]:
    return [frame.t_ms for frame in iter_sampled_frames(path, **kwargs)]


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
    assert _times(clip, fps=2.0) == [0, 520, 1000, 1520]


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
def test_absurd_sampling_parameters(videos_dir: Path, kwargs: dict[str, float]) -> None:
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
