"""Fixtures every suite uses. Suite-specific fixtures live in the suite's own conftest.py.

The running service (``tests/services.py``: Postgres, Redis, Celery workers, the API) is
registered here, once, so the kernel, API, worker, end-to-end and web suites share one stack per
run; so are the shared clips those suites upload (bad inputs live in tests/corpus).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calls import calls_dir, gallery_2x2, gallery_3x3, speaker_view  # noqa: F401  (shared fixtures)
from tests.services import (  # noqa: F401  (fixtures, registered once for every suite)
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
SHORT_CLIP = "pyfeat_single_face.mp4"  # 2.4 s: one chunk, cheap
TWO_CHUNK_CLIP = "liveportrait_driving_d3.mp4"  # 11.8 s: two 10-s chunks
LONG_CLIP = "liveportrait_driving_d6.mp4"  # 33.6 s: four 10-s chunks


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


@pytest.fixture(scope="session")
def taiwanese_dir(shared_dir: Path) -> Path:
    """The cross-domain evaluation set: scored, never trained, calibrated or tuned on."""
    path = shared_dir / "data" / "taiwanese_posed"
    if not path.is_dir():
        pytest.skip(f"no cross-domain set at {path}")
    return path


@pytest.fixture(scope="session")
def short_clip(videos_dir: Path) -> Path:
    return videos_dir / SHORT_CLIP


@pytest.fixture(scope="session")
def two_chunk_clip(videos_dir: Path) -> Path:
    return videos_dir / TWO_CHUNK_CLIP


@pytest.fixture(scope="session")
def long_clip(videos_dir: Path) -> Path:
    return videos_dir / LONG_CLIP
