"""Stream a multipart upload to storage under a byte budget, rejecting non-video early.

Starlette's own form parser spools files to disk but caps no size and reads the whole body
before the route runs; this one parses while the body arrives, so an oversized upload stops at
the budget (413) and a file that does not start like a video stops after its first bytes (415).
Only the recording touches disk (staging, named by a random id, never the client's filename);
form fields and the transcript are small and bounded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from emotrace.errors import InvalidParameter, UnsupportedContentType, UploadTimeout, UploadTooLarge
from ml.errors import NotAVideo, TranscriptError
from ml.transcript import MAX_TRANSCRIPT_BYTES

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger(__name__)

FILE_FIELD = "file"
TRANSCRIPT_FIELD = "transcript"
MAX_FIELD_BYTES = 8 * 1024
FORM_OVERHEAD_BYTES = MAX_TRANSCRIPT_BYTES + 1024 * 1024  # fields, headers, boundaries
TS_PACKET_BYTES = 188
SIGNATURE_BYTES = TS_PACKET_BYTES + 1
MAX_FIELDS = 32
WRITE_BATCH_BYTES = 1024 * 1024  # parse and write off the event loop a megabyte at a time
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


def looks_like_video(head: bytes) -> bool:
    """Container signatures of the formats PyAV reads: ISO BMFF (mp4, mov, 3gp, m4v), Matroska and
    WebM, AVI, MPEG-TS and -PS, FLV, ASF/WMV, Ogg. Probing decides the rest after upload."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
        or head.startswith(b"\x1a\x45\xdf\xa3")
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or (len(head) > TS_PACKET_BYTES and head[0] == head[TS_PACKET_BYTES] == 0x47)  # two TS sync bytes
        or head.startswith(b"\x00\x00\x01\xba")
        or head.startswith(b"FLV")
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
        or head.startswith(b"OggS")
    )


@dataclass
class Upload:
    """The parsed form: the staged recording (if any) and the small fields as text."""

    video_path: Path | None = None
    video_bytes: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    transcript: bytes | None = None
    transcript_filename: str | None = None

    def discard(self) -> None:
        if self.video_path is not None:
            self.video_path.unlink(missing_ok=True)
            self.video_path = None


class _FormSink:
    """Multipart callbacks: route each part's bytes to the staged file or a bounded buffer."""

    def __init__(self, staging_dir: Path, max_video_bytes: int) -> None:
        self.upload = Upload()
        self._staging_dir = staging_dir
        self._max_video_bytes = max_video_bytes
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._buffer = bytearray()
        self._head = bytearray()
        self._file: IO[bytes] | None = None
        self._parts = 0
        self.checked = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_FIELDS:
            raise InvalidParameter(f"more than {MAX_FIELDS} form fields")
        self._headers, self._name, self._buffer = {}, None, bytearray()

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        if name == FILE_FIELD:
            if self.upload.video_path is not None:
                raise InvalidParameter("send one `file` per job")
            path = self._staging_dir / f"{uuid.uuid4().hex}.upload"
            self.upload.video_path = path
            self._file = path.open("wb")
        elif name == TRANSCRIPT_FIELD:
            filename = params.get(b"filename")
            self.upload.transcript_filename = filename.decode("utf-8", "replace") if filename else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            self.upload.video_bytes += len(chunk)
            if self.upload.video_bytes > self._max_video_bytes:
                raise UploadTooLarge(f"the recording is larger than {self._max_video_bytes} bytes")
            if not self.checked:
                self._head.extend(chunk[:SIGNATURE_BYTES])
                if len(self._head) >= SIGNATURE_BYTES:
                    self._check_signature()
            self._file.write(chunk)
            return
        limit = MAX_TRANSCRIPT_BYTES if self._name == TRANSCRIPT_FIELD else MAX_FIELD_BYTES
        if len(self._buffer) + len(chunk) > limit:
            if self._name == TRANSCRIPT_FIELD:
                raise TranscriptError(f"transcript larger than {MAX_TRANSCRIPT_BYTES // (1024 * 1024)} MB")
            raise InvalidParameter(f"form field `{self._name[:40] if self._name else ''}` is too long")
        self._buffer.extend(chunk)

    def _check_signature(self) -> None:
        self.checked = True
        if not looks_like_video(bytes(self._head)):
            raise NotAVideo("the uploaded file is not a video (unrecognised container)")

    def _part_end(self) -> None:
        if self._file is not None:
            if not self.checked:
                self._check_signature()
            self._file.close()
            self._file = None
        elif self._name == TRANSCRIPT_FIELD:
            self.upload.transcript = bytes(self._buffer)
        elif self._name:
            try:
                self.upload.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidParameter(f"form field `{self._name[:40]}` is not UTF-8 text") from exc
        self._name, self._buffer = None, bytearray()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedContentType("send the recording as multipart/form-data")
    return params[b"boundary"]


def declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _next_message(request: Request, idle_timeout_s: float) -> dict[str, object]:
    """The next body message; a client that sends nothing for ``idle_timeout_s`` is cut off, so
    a stalled or deliberately slow upload cannot hold a connection and a staging file forever."""
    try:
        return dict(await asyncio.wait_for(request.receive(), timeout=idle_timeout_s))
    except TimeoutError as exc:
        raise UploadTimeout(f"no data received for {idle_timeout_s:g} s; the upload was cut off") from exc


async def receive_upload(
    request: Request, *, staging_dir: Path, max_video_bytes: int, idle_timeout_s: float = 60.0
) -> Upload:
    """Parse the body as it arrives. On any error the staged file is removed before raising."""
    boundary = _boundary(request)
    length = declared_length(request)
    if length is not None and length > max_video_bytes + FORM_OVERHEAD_BYTES:
        raise UploadTooLarge(f"the upload is larger than {max_video_bytes} bytes")
    sink = _FormSink(staging_dir, max_video_bytes)
    parser = MultipartParser(boundary, sink.callbacks(), max_size=max_video_bytes + FORM_OVERHEAD_BYTES)
    pending = bytearray()
    finished = False
    try:
        while not finished:
            message = await _next_message(request, idle_timeout_s)
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            pending.extend(body if isinstance(body, bytes) else b"")
            finished = not message.get("more_body", False)
            # Until the signature is checked, parse every chunk at once: reject before the rest arrives.
            if pending and (finished or len(pending) >= WRITE_BATCH_BYTES or not sink.checked):
                await run_in_threadpool(parser.write, bytes(pending))
                pending.clear()
        parser.finalize()
    except ClientDisconnect:
        sink.close()
        sink.upload.discard()
        raise
    except Exception as exc:
        sink.close()
        sink.upload.discard()
        if not finished and not isinstance(exc, UploadTimeout):
            await drain(request, started=True)
        if isinstance(exc, ValueError) and not isinstance(exc, TranscriptError):
            raise InvalidParameter("malformed multipart body") from exc
        raise
    sink.close()
    return sink.upload


async def drain(request: Request, *, started: bool) -> None:
    """Read and drop the rest of a rejected body, so the client reads our answer rather than a
    reset connection; a body beyond ``DRAIN_LIMIT_BYTES`` is cut off instead.

    A client that sent ``Expect: 100-continue`` and has not been told to continue is waiting
    for our verdict and sends nothing more: there is nothing to drain.
    """
    if not started and request.headers.get("expect", "").lower() == "100-continue":
        return
    received = 0
    while received <= DRAIN_LIMIT_BYTES:
        message = await request.receive()
        if message["type"] != "http.request":
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
