"""Fixtures every suite uses. Suite-specific fixtures live in the suite's own conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("EMOTRACE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (training data, sample videos); tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def videos_dir(shared_dir: Path) -> Path:
    path = shared_dir / "videos"
    if not path.is_dir():
        pytest.skip(f"no sample videos at {path}")
    return path


@pytest.fixture(scope="session")
def ferplus_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "ferplus"
    if not (path / "fer2013new.csv").is_file():
        pytest.skip(f"no FER+ data at {path}")
    return path
