"""Call recordings with known ground truth (``bench.calls``), built once per test run and shared
by the pipeline, service and page suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.calls import PEOPLE, Gallery, SpeakerView, build_gallery, build_speaker_view

SPEAKER_VIEW_CLIPS = (PEOPLE[0], PEOPLE[7], PEOPLE[5])  # two similar-looking men and a woman


@pytest.fixture(scope="session")
def calls_dir(tmp_path_factory: pytest.TempPathFactory, videos_dir: Path) -> Path:
    return tmp_path_factory.mktemp("calls")


@pytest.fixture(scope="session")
def gallery_2x2(calls_dir: Path) -> Gallery:
    """Four people taking turns to talk for 4 s each over 24 s (three tracking windows)."""
    return build_gallery(calls_dir / "gallery2.mp4", PEOPLE[:4], cols=2, rows=2, seconds=24, turn_s=4)


@pytest.fixture(scope="session")
def gallery_3x3(calls_dir: Path) -> Gallery:
    return build_gallery(calls_dir / "gallery3.mp4", PEOPLE[:9], cols=3, rows=3, seconds=12)


@pytest.fixture(scope="session")
def speaker_view(calls_dir: Path) -> SpeakerView:
    """Cuts every 3 s: A B C A B C A B, so each person comes back across cuts and windows."""
    return build_speaker_view(calls_dir / "speaker.mp4", SPEAKER_VIEW_CLIPS, cut_s=3, seconds=24)
