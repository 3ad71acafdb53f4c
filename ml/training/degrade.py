"""What a video call does to a face, as deterministic image transforms for the robustness report.

Each condition is one degradation at a fixed strength, applied to a face tile before the
classifier sees it; ``emotrace evaluate --degrade`` scores FER+ test under each and reports the drop
from the clean accuracy. Strengths follow the conditions a webcam call shows: heavy JPEG (quality
20), defocus (Gaussian blur, sigma 1.5 px on the 48-px face), a face captured at half or a third of
the resolution and upscaled, under- and over-exposure (gamma 2.0 and 0.5), sensor noise (sigma 8
grey levels) and a head tilted by 20 degrees either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def jpeg(quality: int) -> Degradation:
    def apply(face: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
        if decoded is None:
            raise RuntimeError("JPEG decoding failed")
        return np.asarray(decoded)

    return apply


def blur(sigma: float) -> Degradation:
    return lambda face, _rng: cv2.GaussianBlur(face, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def down_up(factor: int) -> Degradation:
    def apply(face: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        h, w = face.shape[:2]
        small = cv2.resize(face, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    return apply


def gamma(value: float) -> Degradation:
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** value, 0, 255).astype(np.uint8)
    return lambda face, _rng: cv2.LUT(face, table)


def noise(sigma: float) -> Degradation:
    def apply(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(face.astype(np.float32) + rng.normal(0.0, sigma, face.shape), 0, 255).astype(np.uint8)

    return apply


def rotate(degrees: float) -> Degradation:
    def apply(face: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        h, w = face.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), degrees, 1.0)
        return cv2.warpAffine(face, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    return apply


CONDITIONS: dict[str, Degradation] = {
    "jpeg_q20": jpeg(20),
    "blur_sigma1.5": blur(1.5),
    "down_up_2x": down_up(2),
    "down_up_3x": down_up(3),
    "gamma_0.5": gamma(0.5),
    "gamma_2.0": gamma(2.0),
    "noise_sigma8": noise(8.0),
    "rotate_+20": rotate(20.0),
    "rotate_-20": rotate(-20.0),
}


def degrade(faces: np.ndarray, condition: str, *, seed: int = 0) -> np.ndarray:
    """``faces`` (N, H, W) uint8 under ``condition``; the same seed gives the same noise."""
    apply = CONDITIONS[condition]
    rng = np.random.default_rng(seed)
    return np.stack([apply(np.ascontiguousarray(face), rng) for face in faces])


def under_conditions(faces: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """``("clean", faces)``, then the faces under each condition, in :data:`CONDITIONS` order."""
    yield "clean", faces
    for condition in CONDITIONS:
        yield condition, degrade(faces, condition)
