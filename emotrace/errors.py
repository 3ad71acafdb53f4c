"""The service's errors, each carrying a stable ``code`` and the HTTP status it maps to.

    EmotraceError               500 internal_error: a bug or an unexpected failure
    ├── Unauthorized            401 unauthorized: missing, unknown or revoked API key
    ├── NotFound                404 not_found: no such route
    │   ├── JobNotFound         404 job_not_found: unknown id, or another client's job
    │   └── KeyNotFound         404 key_not_found: `emotrace keys revoke` of an unknown key
    ├── MethodNotAllowed        405 method_not_allowed
    ├── UploadTimeout           408 upload_timeout: the upload stalled
    ├── JobNotFinished          409 job_not_finished: results asked for before success
    ├── JobFinished             409 job_finished: a job that already ended cannot be cancelled
    ├── UploadTooLarge          413 upload_too_large
    ├── UnsupportedContentType  415 unsupported_content_type: the request is not multipart
    ├── InvalidParameter        422 invalid_parameter
    │   └── CallbackNotAllowed  422 callback_not_allowed: callback host not in the allow list
    ├── RateLimited             429 rate_limited: too many jobs created; see Retry-After
    └── ServiceUnavailable      503 not_ready: Postgres, Redis or storage unreachable
        ├── DatabaseUnavailable 503 database_unavailable: a request met a lost connection; retry
        └── DatabaseNotMigrated 503 database_not_migrated

Statuses 429 and 503 carry ``Retry-After``: the request did nothing and may be sent again.

Video and transcript problems keep the ml layer's own family (``ml.errors``); the API maps those
with :func:`video_error_status`. Messages name the problem, never recording content or keys.
"""

from __future__ import annotations

from typing import ClassVar

from ml.errors import BadTimeRange, EmptyVideo, VideoError


class EmotraceError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code.replace("_", " "))

    @property
    def message(self) -> str:
        return str(self)


class Unauthorized(EmotraceError):
    code, status = "unauthorized", 401


class NotFound(EmotraceError):
    code, status = "not_found", 404


class JobNotFound(NotFound):
    code = "job_not_found"


class KeyNotFound(NotFound):
    code = "key_not_found"


class MethodNotAllowed(EmotraceError):
    code, status = "method_not_allowed", 405


class UploadTimeout(EmotraceError):
    code, status = "upload_timeout", 408


class JobNotFinished(EmotraceError):
    code, status = "job_not_finished", 409


class JobFinished(EmotraceError):
    code, status = "job_finished", 409


class UploadTooLarge(EmotraceError):
    code, status = "upload_too_large", 413


class UnsupportedContentType(EmotraceError):
    code, status = "unsupported_content_type", 415


class InvalidParameter(EmotraceError):
    code, status = "invalid_parameter", 422


class CallbackNotAllowed(InvalidParameter):
    code = "callback_not_allowed"


class RateLimited(EmotraceError):
    code, status = "rate_limited", 429

    def __init__(self, message: str = "", *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(EmotraceError):
    code, status = "not_ready", 503
    retry_after_s: float = 1.0


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


class DatabaseNotMigrated(ServiceUnavailable):
    code = "database_not_migrated"


def video_error_status(error: VideoError) -> int:
    """415 when the bytes are not a usable video; 422 when they are, but hold nothing to analyse
    or the requested sampling cannot apply to them."""
    return 422 if isinstance(error, EmptyVideo | BadTimeRange) else 415
