"""Fixtures every suite uses. Suite-specific fixtures live in the suite's own conftest.py.

The running service (``tests/service/services.py``: Postgres, Redis, Celery workers, the API) is
registered here, once, so the service and web suites share one stack per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calls import calls_dir, gallery_2x2, gallery_3x3, speaker_view  # noqa: F401  (shared fixtures)
from tests.service.services import (  # noqa: F401  (fixtures, registered once for every suite)
    api_url,
    database_url,
    idle_queue_settings,
    make_client,
    redis_url,
    service_env,
    service_home,
    settings,
    workers,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("EMOTRACE_SHARED_DIR", REPO.parent / "shared"))


SAMPLE_VIDEO = REPO / "samples" / "session.mp4"


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """The 20-s recording shipped in the repository (samples/): present on every clone."""
    assert SAMPLE_VIDEO.is_file(), f"{SAMPLE_VIDEO} is missing: it is committed; rebuild with samples/build.py"
    return SAMPLE_VIDEO


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
