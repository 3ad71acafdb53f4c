"""Where recordings live between upload and analysis: a shared directory or an S3 bucket.

The API spools an upload into :meth:`RecordingStore.staging_dir` (it must be a local file to be
probed), then :meth:`put` moves it under a key derived from the job id, never from the client's
filename. Workers read through :meth:`open_local`, which hands PyAV a local path: the file itself
for :class:`LocalStore`, a per-machine cached download for :class:`S3Store`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from emotrace.errors import ServiceUnavailable
from emotrace.settings import Settings

_KEY = re.compile(r"^[a-z]+/[0-9a-f-]{36}$")
CACHE_IDLE_S = 3600  # a cached download untouched this long belongs to a finished job


def recording_key(job_id: uuid.UUID) -> str:
    return f"recordings/{job_id}"


def _checked(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError("malformed storage key")
    return key


class RecordingStore(Protocol):
    def staging_dir(self) -> Path:
        """A local directory for uploads in progress, on the same filesystem as the store if local."""
        ...

    def put(self, key: str, source: Path) -> None:
        """Move ``source`` (a staged file) into the store under ``key``."""
        ...

    def open_local(self, key: str) -> Any:
        """Context manager yielding a local path to read the recording from."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the recording; a missing one is not an error (deletion is retried freely)."""
        ...

    def check(self) -> None:
        """Raise :class:`ServiceUnavailable` if the store cannot be reached (``/readyz``)."""
        ...


class LocalStore:
    """A directory every API and worker process mounts (the compose volume, or EMOTRACE_HOME)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def staging_dir(self) -> Path:
        path = self.root / "incoming"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    @contextmanager
    def open_local(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError("recording is not in storage")
        yield path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        try:
            staging = self.staging_dir()
            probe = staging / f".ready-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ServiceUnavailable("recording storage is not writable") from exc


class S3Store:
    """An S3-compatible bucket (MinIO in docker-compose). Needs the ``s3`` extra (boto3)."""

    def __init__(self, settings: Settings, *, client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            secret = settings.s3_secret_access_key
            client = boto3.client(
                "s3",
                endpoint_url=settings.s3_endpoint_url,
                region_name=settings.s3_region,
                aws_access_key_id=settings.s3_access_key_id,
                aws_secret_access_key=secret.get_secret_value() if secret else None,
                # MinIO and most S3-compatible stores expect path-style URLs (no bucket subdomain).
                config=Config(s3={"addressing_style": "path"} if settings.s3_endpoint_url else {}),
            )
        self._client = client
        self.bucket = str(settings.s3_bucket)
        self.prefix = settings.s3_prefix
        self._staging = settings.home / "incoming"
        self._cache = settings.worker_cache_dir

    def _object(self, key: str) -> str:
        return self.prefix + _checked(key)

    def _cached(self, key: str) -> Path:
        return self._cache / _checked(key)

    def staging_dir(self) -> Path:
        self._staging.mkdir(parents=True, exist_ok=True)
        return self._staging

    def put(self, key: str, source: Path) -> None:
        try:
            self._client.upload_file(str(source), self.bucket, self._object(key))
        finally:
            source.unlink(missing_ok=True)

    @contextmanager
    def open_local(self, key: str) -> Iterator[Path]:
        """Download once per machine: the chunks of an hours-long recording that land here share
        one copy instead of fetching it per chunk."""
        path = self._cached(key)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
            try:
                self._client.download_file(self.bucket, self._object(key), str(partial))
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
            self._prune_cache()
        os.utime(path)
        yield path

    def _prune_cache(self) -> None:
        cutoff = time.time() - CACHE_IDLE_S
        for cached in self._cache.glob("*/*"):
            try:
                if cached.stat().st_mtime < cutoff:
                    cached.unlink()
            except OSError:
                continue  # another worker removed it first

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._object(key))
        self._cached(key).unlink(missing_ok=True)

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # any botocore failure means "not ready"
            raise ServiceUnavailable("object storage is not reachable") from exc


def make_store(settings: Settings) -> RecordingStore:
    if settings.storage_backend == "s3":
        return S3Store(settings)
    return LocalStore(settings.storage_root)
