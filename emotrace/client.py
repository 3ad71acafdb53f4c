"""A Python client for the emotrace REST API, over httpx.

    from emotrace.client import Client

    with Client("http://127.0.0.1:8000", key) as api:
        job = api.submit("session.mp4", fps=2, transcript="session.vtt", external_id="session-2291")
        job = api.wait(job.id)                      # raises JobFailed if the job failed or was cancelled
        analysis = api.summary(job.id)              # the `emotrace analyze` JSON, minus frames
        frames = list(api.iter_frames(job.id, start=600, end=1200))

The rules a platform would otherwise re-implement live here: ``429`` and ``503`` answers are
retried after their ``Retry-After`` (a POST with the same ``Idempotency-Key``, which ``submit``
makes up when the caller gives none, so a retried upload can never create a second job); status
polls back off while nothing changes; frames are paged with the API's cursor. Every error the
API answers becomes an :class:`ApiError` carrying its ``status``, ``code`` and ``message``.

It imports nothing but httpx and the standard library, so it is cheap to use from any program.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TypedDict

import httpx

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ENDED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 503})
DEFAULT_PAGE_FRAMES = 5000
UploadProgress = Callable[[int, int], None]
"""``on_progress(bytes_sent, bytes_total)`` while a recording uploads."""


class ApiError(Exception):
    """An error answer of the API: its HTTP ``status`` and the body's ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after_s = retry_after_s


class JobFailed(Exception):
    """A job :meth:`Client.wait` saw end without results: ``code`` and ``message`` say why
    (``cancelled`` for a cancelled job)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.code = job.error.code if job.error else job.status
        self.message = job.error.message if job.error else f"the job was {job.status}"
        super().__init__(f"job {job.id} {job.status}: {self.code}: {self.message}")


class Frame(TypedDict):
    t: float
    face: bool
    box: list[int] | None
    probs: dict[str, float] | None


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Job:
    """A job as the API last reported it; ``raw`` is the whole JSON object."""

    id: str
    status: JobStatus
    progress: float
    chunks_done: int
    chunks_total: int
    external_id: str | None
    error: JobError | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            status=data["status"],
            progress=float(data.get("progress") or 0.0),
            chunks_done=int(data.get("chunks_done") or 0),
            chunks_total=int(data.get("chunks_total") or 0),
            external_id=data.get("external_id"),
            error=JobError(error["code"], error["message"]) if error else None,
            raw=data,
        )


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``default`` if absent or odd."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{response.status_code}", response.text[:200] or response.reason_phrase
    retry = response.headers.get("Retry-After")
    return ApiError(response.status_code, code, message, retry_after_s=retry_after_seconds(retry) if retry else None)


class _ProgressReader:
    """A file that reports how much of it has been read: httpx reads the multipart body from
    it chunk by chunk as it sends, so bytes read is bytes handed to the connection. A retry
    seeks back to 0 and starts counting again."""

    def __init__(self, handle: BinaryIO, total: int, on_progress: UploadProgress | None) -> None:
        self._handle, self._total, self._on_progress = handle, total, on_progress
        self.name = getattr(handle, "name", "recording")

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if self._on_progress is not None:
            self._on_progress(self._handle.tell(), self._total)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:  # lets httpx send a Content-Length rather than a chunked body
        return self._handle.fileno()


class Client:
    """One API key against one emotrace service; a context manager that closes its connections.

    ``max_retries`` bounds how often one request is resent after 429/503 (or, for requests that
    are safe to repeat, a dropped connection); ``max_retry_wait_s`` caps any single wait.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_retry_wait_s: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.max_retries, self.max_retry_wait_s = max_retries, max_retry_wait_s
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {key}"}
        self.sleep: Callable[[float], None] = time.sleep  # the one place the client waits

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- transport ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        repeatable: bool = True,
        stream: bool = False,
        before_send: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send, resending after 429/503 as ``Retry-After`` says; raise :class:`ApiError` on any
        other error status. ``before_send`` rebuilds per-attempt arguments (a rewound file); a
        ``stream`` response is returned unread, for the caller to read and close."""
        headers = {**self._auth, **kwargs.pop("headers", {})}
        for attempt in range(self.max_retries + 1):
            extra = before_send() if before_send else {}
            request = self._http.build_request(method, path, headers=headers, **kwargs, **extra)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError:
                if not repeatable or attempt == self.max_retries:
                    raise
                self.sleep(min(2.0**attempt, self.max_retry_wait_s))
                continue
            if response.status_code < 400:
                return response
            response.read()
            response.close()
            error = _api_error(response)
            if response.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                raise error
            self.sleep(min(error.retry_after_s if error.retry_after_s is not None else 1.0, self.max_retry_wait_s))
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # --- jobs --------------------------------------------------------------------------------

    def submit(
        self,
        video: str | os.PathLike[str],
        *,
        fps: float | None = None,
        transcript: str | os.PathLike[str] | None = None,
        external_id: str | None = None,
        retain_video: bool = False,
        callback_url: str | None = None,
        faces: str | None = None,
        idempotency_key: str | None = None,
        on_progress: UploadProgress | None = None,
    ) -> Job:
        """Upload a recording and start its job; returns the queued job (``job.id``).

        Every attempt of this call carries one ``Idempotency-Key`` (``idempotency_key``, or a
        fresh one), so a resend after 429, 503 or a dropped connection returns the job the first
        attempt made, if it made one. ``faces`` is sent as a form field of that name, for
        services that take one; others ignore it.
        """
        path = Path(video)
        transcript_path = Path(transcript) if transcript is not None else None
        data: dict[str, str] = {}
        if fps is not None:
            data["fps"] = repr(float(fps))
        if external_id is not None:
            data["external_id"] = external_id
        if retain_video:
            data["retain_video"] = "true"
        if callback_url is not None:
            data["callback_url"] = callback_url
        if faces is not None:
            data["faces"] = faces
        key = idempotency_key or f"emotrace-client-{uuid.uuid4()}"
        total = path.stat().st_size
        with contextlib.ExitStack() as opened:
            handle = opened.enter_context(path.open("rb"))
            cues = opened.enter_context(transcript_path.open("rb")) if transcript_path is not None else None

            def files() -> dict[str, Any]:
                handle.seek(0)
                parts: dict[str, Any] = {
                    "file": (path.name, _ProgressReader(handle, total, on_progress), "application/octet-stream")
                }
                if cues is not None and transcript_path is not None:
                    cues.seek(0)
                    parts["transcript"] = (transcript_path.name, cues, "application/octet-stream")
                return {"files": parts}

            response = self._request(
                "POST",
                "/v1/jobs",
                data=data,
                headers={"Idempotency-Key": key},
                before_send=files,
                timeout=httpx.Timeout(self._http.timeout.connect, read=None, write=None, pool=None),
            )
        return Job.from_json(response.json())

    def job(self, job_id: str) -> Job:
        return Job.from_json(self._json("GET", f"/v1/jobs/{job_id}"))

    def iter_jobs(self, *, page_size: int = 50) -> Iterator[Job]:
        """This key's jobs, newest first, over every page."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
            page = self._json("GET", "/v1/jobs", params=params)
            yield from (Job.from_json(item) for item in page["items"])
            if not (cursor := page["next_cursor"]):
                return

    def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        on_progress: Callable[[Job], None] | None = None,
        min_interval_s: float = 0.5,
        max_interval_s: float = 10.0,
        raise_on_failure: bool = True,
    ) -> Job:
        """Poll until the job ends and return it; :class:`JobFailed` if it failed or was
        cancelled (unless ``raise_on_failure=False``), ``TimeoutError`` after ``timeout_s``.

        The interval starts at ``min_interval_s`` and grows by half each poll that shows no
        progress, up to ``max_interval_s``: a long job costs few requests, a short one ends fast.
        ``on_progress(job)`` is called after every poll.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        interval, last = min_interval_s, None
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.ended:
                if raise_on_failure and job.status != "succeeded":
                    raise JobFailed(job)
                return job
            seen = (job.status, job.chunks_done)
            interval = min_interval_s if seen != last else min(interval * 1.5, max_interval_s)
            last = seen
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s} s")
                interval = min(interval, left)
            self.sleep(interval)

    def summary(self, job_id: str) -> dict[str, Any]:
        """The analysis (``emotrace analyze``'s JSON without ``frames``); ApiError 409
        ``job_not_finished`` before the job succeeded."""
        result: dict[str, Any] = self._json("GET", f"/v1/jobs/{job_id}/summary")
        return result

    def iter_frames(
        self,
        job_id: str,
        start: float | None = None,
        end: float | None = None,
        *,
        page_size: int = DEFAULT_PAGE_FRAMES,
    ) -> Iterator[Frame]:
        """Per-frame emotions in ``[start, end)`` seconds, in time order, over every page."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            for name, value in (("start", start), ("end", end), ("cursor", cursor)):
                if value is not None:
                    params[name] = value
            page = self._json("GET", f"/v1/jobs/{job_id}/frames", params=params)
            yield from page["items"]
            if not (cursor := page["next_cursor"]):
                return

    def frames_csv(
        self,
        job_id: str,
        to: str | os.PathLike[str] | IO[bytes] | None = None,
        *,
        start: float | None = None,
        end: float | None = None,
    ) -> str | None:
        """The frames as CSV (the columns ``emotrace analyze --csv`` writes): returned as text,
        or streamed into ``to`` (a path or a binary file) without holding it in memory."""
        params = {name: value for name, value in (("start", start), ("end", end)) if value is not None}
        response = self._request(
            "GET", f"/v1/jobs/{job_id}/frames", params=params, headers={"Accept": "text/csv"}, stream=True
        )
        try:
            if to is None:
                return response.read().decode("utf-8")
            with open(to, "wb") if isinstance(to, str | os.PathLike) else contextlib.nullcontext(to) as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            return None
        finally:
            response.close()

    def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job; it stays listed as ``cancelled``, its recording and
        results deleted. ApiError 409 ``job_finished`` if it had already ended."""
        # Not resent after a dropped connection: a first attempt that got through would make
        # the resend answer 409, which would misreport what happened.
        return Job.from_json(self._json("POST", f"/v1/jobs/{job_id}/cancel", repeatable=False))

    def delete(self, job_id: str) -> None:
        """Delete the job, its recording and every result (stopping it first if it runs)."""
        self._request("DELETE", f"/v1/jobs/{job_id}", repeatable=False)  # as cancel: a resend would say 404
