"""Read recordings: probe their metadata, and sample frames on a fixed time grid.

Sampling is by timestamp, never by frame index: the grid is ``k / fps`` seconds from the start of
the video stream, and grid point ``k`` takes the first decoded frame whose presentation time is at
or after it. With range edges on the grid, ``[a, b) + [b, c)`` samples exactly what ``[a, c)``
does, so a recording analysed in chunks on many workers equals one analysed whole; variable frame
rate needs no special case. Times are exact fractions of the stream's time base until they are
rounded once, to integer milliseconds.

Holds at most the frame it yields: frames that fall between grid points are decoded only when
other frames reference them (see :func:`_iter_decoded`) and never converted to arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ml.errors import BadTimeRange, EmptyVideo, NotAVideo, NoVideoStream, TruncatedVideo, VideoNotFound
from ml.schema import VideoInfo

MAX_SAMPLE_FPS = 60.0
# A stream that ends this much before its declared end was cut short (a partial upload).
TRUNCATION_TOLERANCE_S = 2.0
MAX_PIXELS = 8192 * 8192
# Decoders reorder a few frames at most; cells this far behind the newest one are closed.
_CELLS_REMEMBERED = 64

_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class SampledFrame:
    t_ms: int
    image: np.ndarray  # BGR, display orientation


def _open(path: str | os.PathLike[str]) -> av.container.InputContainer:
    file = Path(path)
    if not file.is_file():
        raise VideoNotFound(f"{file.name}: no such file")
    if file.stat().st_size == 0:
        raise NotAVideo(f"{file.name}: the file is empty")
    try:
        return av.open(str(file), mode="r")
    except av.error.FFmpegError as exc:
        if isinstance(exc, av.error.EOFError) and _looks_like_media(file):
            # e.g. a Matroska file whose tracks are declared and whose clusters never came.
            raise EmptyVideo(f"{file.name}: the file ends after its header; it holds no frames") from exc
        if _looks_like_media(file):
            raise TruncatedVideo(f"{file.name}: the container is incomplete or corrupt") from exc
        raise NotAVideo(f"{file.name}: not a video file") from exc


def _looks_like_media(file: Path) -> bool:
    """A recognisable container signature: an unreadable file that has one was cut short."""
    with file.open("rb") as handle:
        head = handle.read(16)
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
    )


def _clockwise_degrees(frame: av.VideoFrame) -> int:
    """Display-matrix rotation (PyAV gives it counter-clockwise) as a clockwise right angle."""
    rotation = round(float(getattr(frame, "rotation", 0) or 0))
    return (-rotation) % 360 // 90 * 90


def _to_bgr(frame: av.VideoFrame) -> np.ndarray:
    image = frame.to_ndarray(format="bgr24")
    turn = _ROTATIONS.get(_clockwise_degrees(frame))
    return cv2.rotate(image, turn) if turn is not None else image


def _stream_start(stream: av.video.stream.VideoStream) -> int:
    return int(stream.start_time or 0)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Metadata from the container, checked by decoding the first frame (cheap: one GOP at most)."""
    with _open(path) as container:
        if not container.streams.video:
            raise NoVideoStream(f"{Path(path).name}: no video stream (audio only, or a video track without frames)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:
            raise NotAVideo(f"{Path(path).name}: declared frame size {width}x{height} is not plausible")
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise TruncatedVideo(f"{Path(path).name}: the first frame cannot be decoded") from exc
        if first is None:
            raise EmptyVideo(f"{Path(path).name}: the video stream has no frames")
        rotation = _clockwise_degrees(first)
        if rotation in (90, 270):
            width, height = height, width
        base = stream.time_base or Fraction(1, 1)
        if stream.duration is not None:
            duration = float(stream.duration * base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            duration_s=round(max(duration, 0.0), 3),
            fps=round(float(rate), 3) if rate else 0.0,
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
        )


def validate_range(fps: float, start_s: float, end_s: float | None, duration_s: float | None = None) -> None:
    if not math.isfinite(fps) or not 0 < fps <= MAX_SAMPLE_FPS:
        raise BadTimeRange(f"fps must be in (0, {MAX_SAMPLE_FPS:g}], got {fps}")
    if not math.isfinite(start_s) or start_s < 0:
        raise BadTimeRange(f"start must be a non-negative number of seconds, got {start_s}")
    if end_s is not None and (not math.isfinite(end_s) or end_s <= start_s):
        raise BadTimeRange(f"end ({end_s}) must be after start ({start_s})")
    if duration_s and start_s >= duration_s:
        raise BadTimeRange(f"start ({start_s}) is at or beyond the end of the video ({duration_s:.3f} s)")


def _iter_decoded(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, *, step: Fraction, origin: int
) -> Iterator[av.VideoFrame]:
    """Decode ``stream``, letting the codec skip non-reference frames that no grid cell can sample.

    A cell ``[k / fps, (k + 1) / fps)`` samples its earliest frame. A packet whose cell already
    holds an earlier packet (in presentation order) cannot be that frame, so the codec may drop it
    unseen if nothing references it (``skip_frame = NONREF``: B-frames, temporal layers). The
    earliest packet of each cell is always decoded, whatever arrives around it, so the sampled
    frames, their pixels and chunked == whole stay exact; only frames that would be discarded
    undecoded are saved, about half the decode cost on B-frame streams.
    """
    context = stream.codec_context
    base = stream.time_base or Fraction(1, 1)
    earliest: dict[int, int] = {}  # cell -> earliest pts seen; pruned far behind the newest cell
    for packet in container.demux(stream):
        skip = False
        if packet.pts is not None:
            cell = math.floor((packet.pts - origin) * base * step)
            seen = earliest.get(cell)
            skip = seen is not None and seen < packet.pts
            if not skip:
                earliest[cell] = packet.pts
                if len(earliest) > _CELLS_REMEMBERED:
                    for old in [c for c in earliest if c < cell - _CELLS_REMEMBERED // 2]:
                        del earliest[old]
        context.skip_frame = "NONREF" if skip else "DEFAULT"
        yield from packet.decode()


def iter_sampled_frames(
    path: str | os.PathLike[str],
    *,
    fps: float,
    start_s: float = 0.0,
    end_s: float | None = None,
    every_nth: int | None = None,
) -> Iterator[SampledFrame]:
    """Frames on the grid ``k / fps`` within ``[start_s, end_s)``, in display orientation.

    ``every_nth`` samples every Nth frame of the native rate instead (``fps = native / N``), still
    on the time grid, so it stays exact under chunking and variable frame rate.
    """
    with _open(path) as container:
        if not container.streams.video:
            raise NoVideoStream(f"{Path(path).name}: no video stream (audio only, or a video track without frames)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if every_nth is not None:
            if every_nth < 1:
                raise BadTimeRange(f"every_nth must be >= 1, got {every_nth}")
            native = stream.average_rate or stream.guessed_rate
            if not native:
                raise BadTimeRange("every_nth needs a known frame rate")
            fps = float(native) / every_nth
        validate_range(fps, start_s, end_s)
        step = Fraction(fps).limit_denominator(1000)
        base = stream.time_base or Fraction(1, 1)
        origin = _stream_start(stream)
        start = Fraction(start_s).limit_denominator(1000)
        end = Fraction(end_s).limit_denominator(1000) if end_s is not None else None
        next_k = math.ceil(start * step)
        if start > 0:
            container.seek(origin + int(start / base), stream=stream, backward=True, any_frame=False)
        declared_end = float(stream.duration * base) if stream.duration else None
        last_t: Fraction | None = None
        try:
            for frame in _iter_decoded(container, stream, step=step, origin=origin):
                if frame.pts is None:
                    continue
                t = Fraction(frame.pts - origin) * base
                if end is not None and t >= end:
                    return
                last_t = t
                if t < next_k / step:
                    continue
                yield SampledFrame(round(t * 1000), _to_bgr(frame))
                next_k = math.floor(t * step) + 1
        except av.error.FFmpegError as exc:
            raise TruncatedVideo(f"{Path(path).name}: decoding failed part-way (corrupt or cut short)") from exc
        expected_end = min(float(end), declared_end) if end is not None and declared_end else declared_end
        if expected_end is not None and expected_end - float(last_t or 0) > max(
            TRUNCATION_TOLERANCE_S, 0.1 * expected_end
        ):
            if last_t is None and start_s >= expected_end:
                return
            raise TruncatedVideo(
                f"{Path(path).name}: frames stop at {float(last_t or 0):.1f} s of a declared {expected_end:.1f} s"
            )
