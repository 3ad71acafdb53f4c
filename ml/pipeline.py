"""Video -> sampled frames -> subject face -> emotion probabilities, as a stream of ``Frame``.

Three stages overlap, each on its own thread, because the codec, OpenCV and ONNX Runtime all
release the GIL: decoding (a producer thread, ``DECODE_QUEUE_FRAMES`` frames ahead), face
detection and cropping (the consumer's thread), and classification of whole batches (one worker
thread, ``CLASSIFY_IN_FLIGHT`` batches of small crops ahead). On two cores the pipeline keeps up
with a plain decode of every frame (bench/pipeline.py). Memory is bounded by the queue, the crops
in flight and the ``Frame`` results, whatever the length of the recording.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ml import EMOTIONS
from ml.aggregate import SMOOTHING_DESCRIPTION, build_analysis
from ml.classifier import EmotionClassifier
from ml.errors import BadTimeRange
from ml.faces import Box, FaceDetector, SubjectTracker, crop_face, detect_subject, make_detector
from ml.schema import Analysis, AnalysisSettings, Frame
from ml.transcript import Cue
from ml.video import SampledFrame, iter_sampled_frames, probe, validate_range

DEFAULT_FPS = 2.0
DECODE_QUEUE_FRAMES = 8
CLASSIFY_IN_FLIGHT = 2
_DONE = object()


def iter_prefetched(
    frames: Iterator[SampledFrame], depth: int = DECODE_QUEUE_FRAMES
) -> Generator[SampledFrame, None, None]:
    """Run ``frames`` in a thread, at most ``depth`` frames ahead; errors surface in the consumer."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer thread
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="emotrace-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


@dataclass(frozen=True)
class _Detected:
    t_ms: int
    box: Box | None
    crop: np.ndarray | None  # a copy: a view would keep the whole decoded frame alive


def _batched(items: Iterable[_Detected], size: int) -> Iterator[list[_Detected]]:
    batch: list[_Detected] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _iter_detected(frames: Iterable[SampledFrame], detector: FaceDetector) -> Iterator[_Detected]:
    tracker = SubjectTracker()
    for item in frames:
        box = detect_subject(detector, tracker, item.t_ms, item.image)
        crop = np.ascontiguousarray(crop_face(item.image, box)) if box is not None else None
        yield _Detected(item.t_ms, box, crop)


def _classify(classifier: EmotionClassifier, batch: list[_Detected]) -> np.ndarray:
    crops = [item.crop for item in batch if item.crop is not None]
    return classifier.predict(crops) if crops else np.zeros((0, len(EMOTIONS)), np.float32)


def _frames(batch: list[_Detected], probs: np.ndarray) -> Iterator[Frame]:
    vectors = iter(probs)
    for item in batch:
        if item.box is None:
            yield Frame(t=item.t_ms / 1000, face=False)
        else:
            yield Frame(
                t=item.t_ms / 1000,
                face=True,
                box=item.box.as_tuple(),
                probs={name: round(float(p), 6) for name, p in zip(EMOTIONS, next(vectors), strict=True)},
            )


def load_classifier() -> EmotionClassifier:
    """The shipped model on one ONNX Runtime thread: the pipeline already keeps both cores busy
    (decode, detection, classification each on their own thread), and a multi-threaded session's
    spinning pool would take cycles from the codec instead of adding any."""
    return EmotionClassifier.load(threads=1)


def analyze_range(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    start_s: float = 0.0,
    end_s: float | None = None,
    detector: FaceDetector | None = None,
    classifier: EmotionClassifier | None = None,
    batch_size: int = 32,
    every_nth: int | None = None,
) -> Generator[Frame, None, None]:
    """One ``Frame`` per grid sample in ``[start_s, end_s)``, in time order; frames without a face
    are kept with ``face=False``. Equal to the same range cut out of a whole-file pass when the
    edges are multiples of 10 s (see :mod:`ml.faces`).

    Three stages overlap: decoding (a producer thread), face detection (the caller's thread) and
    classification of the previous batch (a worker thread), at most ``CLASSIFY_IN_FLIGHT`` batches
    of small crops ahead of the consumer.
    """
    detector = detector or make_detector("haar")
    classifier = classifier or load_classifier()
    sampled = iter_prefetched(iter_sampled_frames(path, fps=fps, start_s=start_s, end_s=end_s, every_nth=every_nth))
    pending: deque[tuple[list[_Detected], Future[np.ndarray]]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="emotrace-classify") as pool:
        try:
            for batch in _batched(_iter_detected(sampled, detector), batch_size):
                pending.append((batch, pool.submit(_classify, classifier, batch)))
                if len(pending) > CLASSIFY_IN_FLIGHT:
                    done, future = pending.popleft()
                    yield from _frames(done, future.result())
            while pending:
                done, future = pending.popleft()
                yield from _frames(done, future.result())
        finally:
            for _, future in pending:
                future.cancel()
            sampled.close()


def analysis_settings(
    *, fps: float, start_s: float, end_s: float, detector: str, classifier: EmotionClassifier
) -> AnalysisSettings:
    return AnalysisSettings(
        sample_fps=fps,
        start_s=start_s,
        end_s=end_s,
        detector=detector,
        smoothing=SMOOTHING_DESCRIPTION,
        model=classifier.name,
    )


def analyze_file(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    start_s: float = 0.0,
    end_s: float | None = None,
    detector: str = "haar",
    yunet_model: str | os.PathLike[str] | None = None,
    transcript: Sequence[Cue] | None = None,
    progress: Callable[[float], None] | None = None,
    classifier: EmotionClassifier | None = None,
    every_nth: int | None = None,
) -> Analysis:
    """The whole analysis of ``[start_s, end_s)`` of one recording (the CLI's job).

    ``progress`` receives the fraction of the range done, from 0 to 1. ``every_nth`` samples every
    Nth native frame instead of ``fps`` (the recorded sampling rate is then ``native fps / N``).
    """
    video = probe(path)
    if every_nth is not None:
        if every_nth < 1 or not video.fps:
            raise BadTimeRange(f"every_nth must be >= 1 on a video with a known frame rate, got {every_nth}")
        fps = video.fps / every_nth
    validate_range(fps, start_s, end_s, video.duration_s)
    end = min(end_s, video.duration_s) if end_s is not None else video.duration_s
    classifier = classifier or load_classifier()
    frames = []
    span = max(end - start_s, 1e-9)
    for frame in analyze_range(
        path,
        fps=fps,
        start_s=start_s,
        end_s=end_s,
        detector=make_detector(detector, yunet_model=yunet_model),
        classifier=classifier,
    ):
        frames.append(frame)
        if progress is not None:
            progress(min(1.0, (frame.t - start_s) / span))
    if progress is not None:
        progress(1.0)
    settings = analysis_settings(fps=fps, start_s=start_s, end_s=end, detector=detector, classifier=classifier)
    return build_analysis(video=video, settings=settings, frames=frames, transcript=transcript)
