"""Long benchmark inputs built from the shared clips, never committed: a 720p H.264 base clip,
then copies of its packets with shifted timestamps (remuxing costs seconds even for an hour)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "videos"
BASE_CLIP = "liveportrait_driving_d6.mp4"  # 33.6 s, one person facing the camera


def faststart_copy(source: Path, target: Path) -> Path:
    """``source``'s video stream remuxed with the ``moov`` box first; packets are copied as-is."""
    with av.open(str(source)) as inp, av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)
    return target


def build_720p_base(target: Path, *, source: Path | None = None) -> Path:
    """The source clip letterboxed to 1280x720 at 30 fps, H.264 (what a video call records)."""
    if target.exists():
        return target
    source = source or SHARED_VIDEOS / BASE_CLIP
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(source)) as inp, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index, frame in enumerate(inp.decode(video=0)):
            source_image = frame.to_ndarray(format="bgr24")
            scale = 720 / source_image.shape[0]
            image = cv2.resize(source_image, (round(source_image.shape[1] * scale), 720))
            canvas = cv2.copyMakeBorder(
                image,
                0,
                0,
                (1280 - image.shape[1]) // 2,
                1280 - image.shape[1] - (1280 - image.shape[1]) // 2,
                cv2.BORDER_CONSTANT,
            )
            new = av.VideoFrame.from_ndarray(canvas.astype(np.uint8), format="bgr24")
            new.pts, new.time_base = index, Fraction(1, 30)
            for packet in stream.encode(new):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(target)
    return target


def build_looped(base: Path, target: Path, minutes: float) -> Path:
    """``base`` repeated (packets copied, timestamps shifted) until it lasts ``minutes``."""
    if target.exists():
        return target
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(base)) as probe_container:
        stream = probe_container.streams.video[0]
        if stream.duration is None or stream.time_base is None:
            raise ValueError(f"{base.name}: no stream duration to loop by")
        loop_pts = int(stream.duration)
        loop_s = float(loop_pts * stream.time_base)
    loops = max(1, round(minutes * 60 / loop_s))
    with av.open(str(tmp), "w") as out:
        out_stream = None
        for loop in range(loops):
            with av.open(str(base)) as inp:
                in_stream = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream)
                for packet in inp.demux(in_stream):
                    if packet.dts is None or packet.pts is None:
                        continue
                    packet.pts += loop * loop_pts
                    packet.dts += loop * loop_pts
                    packet.stream = out_stream
                    out.mux(packet)
    tmp.rename(target)
    return target


def base_720p(workdir: Path) -> Path:
    """The 720p base clip, built once under ``workdir`` and reused by every benchmark."""
    workdir.mkdir(parents=True, exist_ok=True)
    return build_720p_base(workdir / "base_720p.mp4")


def looped_720p(workdir: Path, minutes: float) -> Path:
    """The base clip looped to ``minutes``, built once under ``workdir``."""
    return build_looped(base_720p(workdir), workdir / f"loop_{minutes:g}min_720p.mp4", minutes)
