"""Write the bad-input corpus: small files, each one way a recording can be wrong.

    python -m tests.corpus.build

The files are committed; this script documents how each was made and rebuilds them. Every file
derives from a synthetic clip encoded here (moving gradient, 160x120, 25 fps, 4 s, H.264), so the
corpus needs no shared data. tests/api/test_bad_inputs.py holds what each must produce.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np

from tests.recordings import write_audio_only

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, RATE, SECONDS = 160, 120, 25, 4


def _frames() -> list[np.ndarray]:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return [
        np.stack([(x + 4 * i) % 256, (y + 2 * i) % 256, np.full_like(x, (8 * i) % 256)], axis=-1).astype(np.uint8)
        for i in range(RATE * SECONDS)
    ]


def encode(path: Path, *, faststart: bool = False, frames: list[np.ndarray] | None = None, format: str = "mp4") -> Path:
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format=format, options=options) as out:
        stream = out.add_stream("libx264", rate=RATE, options={"g": "25", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        out.start_encoding()  # header written even when no frame follows
        for image in _frames() if frames is None else frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def huge_dimensions(path: Path) -> Path:
    """An AVI of raw 16x16 frames whose headers declare 12000x12000: a decoder trusting them would
    allocate 432 MB per frame (FFmpeg itself accepts the size)."""
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("rawvideo", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "bgr24"
        for i in range(RATE):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i, np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = bytearray(path.read_bytes())
    huge = struct.pack("<II", 12000, 12000)
    avih = data.index(b"avih") + 8  # MainAVIHeader: width and height at bytes 32..40
    data[avih + 32 : avih + 40] = huge
    strf = data.index(b"strf") + 8  # BITMAPINFOHEADER: biSize, then biWidth and biHeight
    data[strf + 4 : strf + 12] = huge
    path.write_bytes(bytes(data))
    return path


def corrupt_middle(source: Path, path: Path) -> Path:
    """``source`` (faststart) with the middle third of its frame data overwritten by noise: the
    header is intact, the frames there cannot be decoded."""
    data = bytearray(source.read_bytes())
    mdat = data.index(b"mdat") + 4
    length = len(data) - mdat
    start, end = mdat + length // 3, mdat + 2 * length // 3
    data[start:end] = np.random.default_rng(7).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def main() -> None:
    good = encode(HERE / "good.mp4", faststart=True)
    (HERE / "empty.mp4").write_bytes(b"")
    (HERE / "text.mp4").write_text("Session notes, not a recording.\n" * 40)
    moov_last = encode(HERE / "moov_last.tmp.mp4", faststart=False)
    data = moov_last.read_bytes()
    (HERE / "truncated.mp4").write_bytes(data[: len(data) // 2])  # the moov box at the end is gone
    moov_last.unlink()
    data = good.read_bytes()
    (HERE / "partial.mp4").write_bytes(data[: len(data) // 2])  # header intact, last frames gone
    write_audio_only(HERE / "audio_only.m4a")
    encode(HERE / "zero_frames.mp4", faststart=True, frames=[])  # MP4 drops a track with no samples
    encode(HERE / "zero_duration.mkv", frames=[], format="matroska")  # Matroska keeps it
    huge_dimensions(HERE / "huge_dimensions.avi")
    corrupt_middle(good, HERE / "corrupt_middle.mp4")
    (HERE / "header_only.mp4").write_bytes(data[:32])  # an ftyp box and nothing after it
    for path in sorted(HERE.glob("*.*")):
        if path.suffix != ".py":
            print(f"{path.name:24} {path.stat().st_size:8} bytes")


if __name__ == "__main__":
    main()
