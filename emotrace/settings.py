"""The one Settings object: every knob of the service, read from the environment once.

Only this module reads the environment. Everything else receives a :class:`Settings`, so tests
build ``Settings(...)`` directly (init kwargs beat env, pydantic-settings "Field value priority")
and a bad value stops startup instead of a job hours later.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ml.faces import CONTINUITY_WINDOW_MS

# Chunk edges must fall on the face tracker's continuity window, or a chunked job would differ
# from `emotrace analyze` on the same file: the grid is that window, not a second number.
CHUNK_GRID_S = CONTINUITY_WINDOW_MS / 1000
PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "password", ""})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOTRACE_", extra="ignore")

    home: Path = Field(Path.home() / ".emotrace", description="embedded state: SQLite file, recordings, cache")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("EMOTRACE_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="postgresql://...; unset: SQLite under home (embedded mode)",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("EMOTRACE_REDIS_URL", "REDIS_URL", "redis_url"),
        description="broker and chord result backend; unset: in-process worker threads (embedded mode)",
    )

    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path | None = Field(None, description="directory shared by API and workers; default home/storage")
    s3_bucket: str | None = None
    s3_prefix: str = "emotrace/"
    s3_endpoint_url: str | None = Field(None, description="MinIO or another S3-compatible endpoint")
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    cache_dir: Path | None = Field(None, description="worker-local copies of object-store recordings")

    max_upload_bytes: PositiveInt = 4 * 1024**3
    upload_idle_timeout_s: PositiveFloat = Field(
        60.0, description="an upload that sends nothing for this long is cut off (408), its staging file removed"
    )
    post_rate_per_minute: NonNegativeInt = Field(
        30, description="jobs a client may create per minute, sustained; 0: no limit"
    )
    post_burst: PositiveInt = Field(20, description="jobs a client may create at once before the rate applies")
    max_sample_fps: PositiveFloat = 10.0
    default_fps: PositiveFloat = 2.0
    chunk_seconds: PositiveFloat = Field(60.0, description="~6 s of work at 10x real time: cheap to redo")
    detector: Literal["haar", "yunet", "haar+yunet"] | None = Field(
        None,
        description="face detector; default: haar for faces=subject jobs, yunet (shipped) for faces=all; "
        "haar+yunet runs YuNet where Haar finds no face",
    )
    yunet_model: Path | None = Field(None, description="another YuNet ONNX file than the shipped one")

    worker_threads: PositiveInt = Field(1, description="ONNX Runtime threads per worker process")
    worker_nice: int = Field(
        10, ge=0, le=19, description="CPU niceness of worker processes: on a shared host the API answers first"
    )
    embedded_workers: PositiveInt = Field(1, description="job threads of the in-process queue (embedded mode)")
    max_chunk_attempts: PositiveInt = Field(
        3, description="a chunk that fails or kills its worker this often fails the job"
    )
    visibility_timeout_s: PositiveInt = Field(
        900, description="Redis redelivers an unacked task after this; above any chunk's run time"
    )
    chunk_lease_s: PositiveInt = Field(900, description="a chunk running longer than this is presumed lost")
    submit_grace_s: PositiveInt = Field(60, description="a queued job unplanned this long is submitted again")
    sweep_interval_s: PositiveFloat = 30.0
    purge_interval_s: PositiveFloat = 3600.0
    result_retention_days: PositiveFloat = 30.0

    webhook_secret: SecretStr | None = Field(None, description="HMAC key for callback signatures; unset: no callbacks")
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="callback hosts; '*.example.org' matches subdomains"
    )
    webhook_timeout_s: PositiveFloat = 10.0

    log_level: str = "INFO"

    @field_validator("chunk_seconds")
    @classmethod
    def _chunks_on_grid(cls, value: float) -> float:
        if value % CHUNK_GRID_S:
            raise ValueError(f"chunk_seconds must be a multiple of {CHUNK_GRID_S:g} (the face tracker's window)")
        return value

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """``EMOTRACE_WEBHOOK_ALLOWED_HOSTS=a.example,*.b.example``: a list without JSON quoting."""
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("database_url", "redis_url", "webhook_secret", "s3_secret_access_key", "s3_bucket", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``VAR=`` (as compose writes ``${VAR:-}``) means "not set", not an empty value."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_secret")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("webhook_secret is a placeholder: set a random value (e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.default_fps > self.max_sample_fps:
            raise ValueError("default_fps is above max_sample_fps")
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("storage_backend=s3 needs s3_bucket")
        if self.chunk_lease_s > self.visibility_timeout_s:
            raise ValueError("chunk_lease_s must not exceed visibility_timeout_s")
        return self

    @property
    def embedded(self) -> bool:
        """No Redis: jobs run on threads of the serving process."""
        return self.redis_url is None

    @property
    def sqlalchemy_url(self) -> str:
        """Postgres through psycopg 3 whatever scheme the URL was given with; SQLite by default."""
        if self.database_url is None:
            return f"sqlite:///{self.home / 'emotrace.db'}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def storage_root(self) -> Path:
        return self.storage_dir or self.home / "storage"

    @property
    def worker_cache_dir(self) -> Path:
        return self.cache_dir or self.home / "cache"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use (FastAPI's settings recipe)."""
    return Settings()
