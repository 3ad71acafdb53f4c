"""Settings: one object from the environment, refusing values that would break jobs later."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from emotrace.settings import CHUNK_GRID_S, Settings
from ml.faces import CONTINUITY_WINDOW_MS


def test_environment_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/emotrace")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("EMOTRACE_CHUNK_SECONDS", "120")
    monkeypatch.setenv("EMOTRACE_WEBHOOK_ALLOWED_HOSTS", "hooks.example.org, *.example.net")
    settings = Settings()
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@db:5432/emotrace"
    assert not settings.embedded
    assert settings.chunk_seconds == 120
    assert settings.webhook_allowed_hosts == ["hooks.example.org", "*.example.net"]
    assert Settings(chunk_seconds=30).chunk_seconds == 30, "init arguments beat the environment"
    monkeypatch.setenv("EMOTRACE_WEBHOOK_SECRET", "")
    monkeypatch.setenv("EMOTRACE_WEBHOOK_ALLOWED_HOSTS", "")
    assert (Settings().webhook_secret, Settings().webhook_allowed_hosts) == (None, []), "VAR= means unset"


def test_embedded_defaults(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "EMOTRACE_DATABASE_URL", "EMOTRACE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=tmp_path)
    assert settings.embedded
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path}/emotrace.db"


@pytest.mark.parametrize(
    "values",
    [
        {"chunk_seconds": 45},
        {"webhook_secret": "changeme"},
        {"storage_backend": "s3"},
        {"default_fps": 20},
        {"chunk_lease_s": 5000, "visibility_timeout_s": 900},
    ],
)
def test_bad_values_stop_startup(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)  # type: ignore[arg-type]


def test_chunk_edges_fall_on_the_face_trackers_window() -> None:
    """Chunked == whole holds only when every chunk edge starts a new continuity window."""
    assert CHUNK_GRID_S * 1000 == CONTINUITY_WINDOW_MS
    assert Settings().chunk_seconds * 1000 % CONTINUITY_WINDOW_MS == 0
    with pytest.raises(ValidationError, match="multiple of"):
        Settings(chunk_seconds=1.5 * CONTINUITY_WINDOW_MS / 1000)
