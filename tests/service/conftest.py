"""The shared clips the service tests upload. The running service is registered in
tests/conftest.py; bad inputs live in tests/corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

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
