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
from ml.identity import FaceDescriber
from ml.participants import FaceObservation
from ml.schema import Analysis, AnalysisSettings, Frame
from ml.tracking import FaceTracks, TrackedFace, WindowedDetection
from ml.transcript import Cue
from ml.video import SampledFrame, iter_sampled_frames, probe, validate_range

DEFAULT_FPS = 2.0
DECODE_QUEUE_FRAMES = 8
CLASSIFY_IN_FLIGHT = 2
FACES_MODES = ("subject", "all")
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
    boxes: list[Box]  # the subject alone, or (``faces="all"``) every face
    crops: list[np.ndarray]  # copies: a view would keep the whole decoded frame alive
    subject: int | None  # index of the main subject in ``boxes``
    tracked: list[TrackedFace] | None = None  # ``faces="all"``: each box's track
    descriptors: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] | None = None  # box -> identity


def _batched(items: Iterable[_Detected], size: int) -> Iterator[list[_Detected]]:
    batch: list[_Detected] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _crop(image: np.ndarray, box: Box) -> np.ndarray:
    return np.ascontiguousarray(crop_face(image, box))


def _iter_detected(frames: Iterable[SampledFrame], detector: FaceDetector) -> Iterator[_Detected]:
    tracker = SubjectTracker()
    for item in frames:
        box = detect_subject(detector, tracker, item.t_ms, item.image)
        if box is None:
            yield _Detected(item.t_ms, [], [], None)
        else:
            yield _Detected(item.t_ms, [box], [_crop(item.image, box)], 0)


def _iter_detected_all(frames: Iterable[SampledFrame], detector: FaceDetector) -> Iterator[_Detected]:
    """Every face, its track, and a descriptor where its track asks for one (``ml.tracking``)."""
    finder, tracks, subject, describer = WindowedDetection(detector), FaceTracks(), SubjectTracker(), FaceDescriber()
    for item in frames:
        boxes = finder.detect(item.t_ms, item.image)
        tracked = tracks.assign(item.t_ms, item.image, boxes)
        chosen = subject.pick(item.t_ms, boxes)
        wanted = [i for i, face in enumerate(tracked) if face.describe]
        descriptors = {}
        if wanted:
            descriptors = dict(zip(wanted, describer.describe(item.image, [boxes[i] for i in wanted]), strict=True))
        yield _Detected(
            item.t_ms,
            boxes,
            [_crop(item.image, box) for box in boxes],
            boxes.index(chosen) if chosen is not None else None,
            tracked,
            descriptors,
        )


def _classify(classifier: EmotionClassifier, batch: list[_Detected]) -> np.ndarray:
    crops = [crop for item in batch for crop in item.crops]
    return classifier.predict(crops) if crops else np.zeros((0, len(EMOTIONS)), np.float32)


def _probs(vector: np.ndarray) -> dict[str, float]:
    return {name: round(float(p), 6) for name, p in zip(EMOTIONS, vector, strict=True)}


Sample = tuple[Frame, list[FaceObservation] | None]
"""A sampled instant: the main subject's frame, and every face (``faces="all"``; else None)."""


def _frames(batch: list[_Detected], probs: np.ndarray) -> Iterator[Sample]:
    vectors = iter(probs)
    for item in batch:
        faces = [_probs(next(vectors)) for _ in item.crops]
        if item.subject is None:
            frame = Frame(t=item.t_ms / 1000, face=False)
        else:
            frame = Frame(
                t=item.t_ms / 1000, face=True, box=item.boxes[item.subject].as_tuple(), probs=faces[item.subject]
            )
        observed = None
        if item.tracked is not None:
            descriptors = item.descriptors or {}
            observed = [
                FaceObservation(
                    t_ms=item.t_ms,
                    index=i,
                    track=face.track,
                    box=face.box.as_tuple(),
                    probs=faces[i],
                    descriptor=descriptors[i][0] if i in descriptors else None,
                    context=descriptors[i][1] if i in descriptors else None,
                    motion=face.motion,
                    colours=face.colours,
                )
                for i, face in enumerate(item.tracked)
            ]
        yield frame, observed


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
    edges are multiples of 10 s (see :mod:`ml.faces`)."""
    for frame, _ in analyze_samples(
        path,
        fps=fps,
        start_s=start_s,
        end_s=end_s,
        detector=detector,
        classifier=classifier,
        batch_size=batch_size,
        every_nth=every_nth,
    ):
        yield frame


def analyze_samples(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    start_s: float = 0.0,
    end_s: float | None = None,
    detector: FaceDetector | None = None,
    classifier: EmotionClassifier | None = None,
    batch_size: int = 32,
    every_nth: int | None = None,
    faces: str = "subject",
) -> Generator[Sample, None, None]:
    """:func:`analyze_range`, and with ``faces="all"`` every face of each sample as well.

    Three stages overlap: decoding (a producer thread), face detection (the caller's thread) and
    classification of the previous batch (a worker thread), at most ``CLASSIFY_IN_FLIGHT`` batches
    of small crops ahead of the consumer.
    """
    if faces not in FACES_MODES:
        raise ValueError(f"unknown faces mode {faces!r}; choose subject or all")
    detector = detector or make_detector(default_detector(faces))
    classifier = classifier or load_classifier()
    sampled = iter_prefetched(iter_sampled_frames(path, fps=fps, start_s=start_s, end_s=end_s, every_nth=every_nth))
    detect = _iter_detected_all if faces == "all" else _iter_detected
    pending: deque[tuple[list[_Detected], Future[np.ndarray]]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="emotrace-classify") as pool:
        try:
            for batch in _batched(detect(sampled, detector), batch_size):
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
    *, fps: float, start_s: float, end_s: float, detector: str, classifier: EmotionClassifier, faces: str = "subject"
) -> AnalysisSettings:
    return AnalysisSettings(
        sample_fps=fps,
        start_s=start_s,
        end_s=end_s,
        detector=detector,
        smoothing=SMOOTHING_DESCRIPTION,
        model=classifier.name,
        faces="all" if faces == "all" else None,
    )


def default_detector(faces: str) -> str:
    """Haar for the subject (its output and speed stay what they were); YuNet for every face:
    it finds the small and turned faces of a gallery that Haar misses, at a lower cost per pass
    (bench/detectors.py)."""
    return "yunet" if faces == "all" else "haar"


def analyze_file(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    start_s: float = 0.0,
    end_s: float | None = None,
    detector: str | None = None,
    yunet_model: str | os.PathLike[str] | None = None,
    transcript: Sequence[Cue] | None = None,
    progress: Callable[[float], None] | None = None,
    classifier: EmotionClassifier | None = None,
    every_nth: int | None = None,
    faces: str = "subject",
) -> Analysis:
    """The whole analysis of ``[start_s, end_s)`` of one recording (the CLI's job).

    ``progress`` receives the fraction of the range done, from 0 to 1. ``every_nth`` samples every
    Nth native frame instead of ``fps`` (the recorded sampling rate is then ``native fps / N``).
    ``faces="all"`` follows every face and adds the participants; ``detector`` defaults to
    :func:`default_detector`.
    """
    detector = detector or default_detector(faces)
    video = probe(path)
    if every_nth is not None:
        if every_nth < 1 or not video.fps:
            raise BadTimeRange(f"every_nth must be >= 1 on a video with a known frame rate, got {every_nth}")
        fps = video.fps / every_nth
    validate_range(fps, start_s, end_s, video.duration_s)
    end = min(end_s, video.duration_s) if end_s is not None else video.duration_s
    classifier = classifier or load_classifier()
    frames = []
    observations: list[FaceObservation] | None = [] if faces == "all" else None
    span = max(end - start_s, 1e-9)
    for frame, observed in analyze_samples(
        path,
        fps=fps,
        start_s=start_s,
        end_s=end_s,
        detector=make_detector(detector, yunet_model=yunet_model),
        classifier=classifier,
        faces=faces,
    ):
        frames.append(frame)
        if observations is not None and observed is not None:
            observations.extend(observed)
        if progress is not None:
            progress(min(1.0, (frame.t - start_s) / span))
    if progress is not None:
        progress(1.0)
    settings = analysis_settings(
        fps=fps, start_s=start_s, end_s=end, detector=detector, classifier=classifier, faces=faces
    )
    return build_analysis(
        video=video, settings=settings, frames=frames, transcript=transcript, observations=observations
    )
