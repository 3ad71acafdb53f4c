"""Training-time augmentation: what a face crop from a recorded call does to a FER tile.

FER's tiles are web photos framed by hand; a call gives detector crops (tighter or looser, tilted
heads), webcam optics (blur, low resolution upscaled), codecs (JPEG/H.264 blocks), sensor noise and
uneven exposure, and hands or glasses over part of the face. Each transform below is one of those,
applied per face with its own probability, on batches of 48x48x1 float faces in [0, 255].

``v1`` is the first model's geometric and photometric set; ``v2`` adds framing from detector-tight
to tile-loose, ±20° tilt, gamma, blur, down-then-up scaling, JPEG, noise and random erasing (the
last makes the network read the brows and eyes when the mouth is hidden, and the mouth when the
eyes are). ``v2`` leaves only about one face in seven untouched, and the networks it trained read
clean faces worse; ``v3`` keeps ``v1``'s framing and adds only the four degradations the clean
network is fragile to (blur, down-up scaling, JPEG, noise), each to 15% of faces, so about half of
the faces stay clean.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import tensorflow as tf

SIZE = 48
MILD = 0.15  # v3's default probability per degradation: 0.85**4, about half the faces, stay clean
Augment = Callable[[tf.Tensor], tf.Tensor]


def _geometric(
    seed: int, *, degrees: float, zoom: tuple[float, float], shift: float, brightness: float, contrast: float, name: str
) -> keras.Sequential:
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(degrees / 360, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed + 3),
            keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed + 4),
            keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 5),
        ],
        name=name,
    )


def geometric_v1(seed: int) -> keras.Sequential:
    return _geometric(seed, degrees=15, zoom=(-0.1, 0.1), shift=0.08, brightness=0.2, contrast=0.25, name="augment_v1")


def geometric_v2(seed: int) -> keras.Sequential:
    # Negative zooms in (a detector's tight box), positive zooms out (a loose FER tile).
    return _geometric(seed, degrees=20, zoom=(-0.2, 0.25), shift=0.1, brightness=0.25, contrast=0.35, name="augment_v2")


def _chosen(batch: tf.Tensor, probability: float) -> tf.Tensor:
    """A (B, 1, 1, 1) mask: which faces of the batch get a transform."""
    n = tf.shape(batch)[0]
    return tf.cast(tf.random.uniform((n, 1, 1, 1)) < probability, batch.dtype)


def _mix(batch: tf.Tensor, changed: tf.Tensor, probability: float) -> tf.Tensor:
    mask = _chosen(batch, probability)
    return mask * changed + (1.0 - mask) * batch


def gamma(batch: tf.Tensor, probability: float = 0.3, max_gamma: float = 2.2) -> tf.Tensor:
    n = tf.shape(batch)[0]
    g = tf.exp(tf.random.uniform((n, 1, 1, 1), -math.log(max_gamma), math.log(max_gamma)))
    return _mix(batch, 255.0 * tf.pow(tf.clip_by_value(batch, 0.0, 255.0) / 255.0, g), probability)


def gaussian_blur(batch: tf.Tensor, probability: float = 0.25, max_sigma: float = 1.6) -> tf.Tensor:
    """One sigma per batch (a kernel per face would need a per-face convolution), a mask per face."""
    sigma = tf.random.uniform((), 0.4, max_sigma)
    radius = 4
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel_1d = tf.exp(-(x**2) / (2.0 * sigma**2))
    kernel_1d = kernel_1d / tf.reduce_sum(kernel_1d)
    padded = tf.pad(batch, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    blurred = tf.nn.conv2d(padded, tf.reshape(kernel_1d, (-1, 1, 1, 1)), 1, "VALID")
    blurred = tf.nn.conv2d(blurred, tf.reshape(kernel_1d, (1, -1, 1, 1)), 1, "VALID")
    return _mix(batch, blurred, probability)


def down_up(batch: tf.Tensor, probability: float = 0.25, max_factor: float = 3.5) -> tf.Tensor:
    """A low-resolution webcam face upscaled: shrink by 1.5-3.5x, back to 48 px."""
    side = tf.cast(tf.round(SIZE / tf.random.uniform((), 1.5, max_factor)), tf.int32)
    small = tf.image.resize(batch, (side, side), method="area")
    return _mix(batch, tf.image.resize(small, (SIZE, SIZE), method="bilinear"), probability)


def jpeg(batch: tf.Tensor, probability: float = 0.25) -> tf.Tensor:
    def compress(face: tf.Tensor) -> tf.Tensor:
        quality = tf.random.uniform((), 10, 60, dtype=tf.int32)
        encoded = tf.image.adjust_jpeg_quality(tf.cast(tf.clip_by_value(face, 0, 255), tf.uint8), quality)
        return tf.cast(tf.reshape(encoded, (SIZE, SIZE, 1)), tf.float32)

    return _mix(batch, tf.map_fn(compress, batch, fn_output_signature=tf.float32), probability)


def noise(batch: tf.Tensor, probability: float = 0.3, max_sigma: float = 10.0) -> tf.Tensor:
    n = tf.shape(batch)[0]
    sigma = tf.random.uniform((n, 1, 1, 1), 2.0, max_sigma)
    return _mix(batch, batch + sigma * tf.random.normal(tf.shape(batch)), probability)


def random_erasing(batch: tf.Tensor, probability: float = 0.3) -> tf.Tensor:
    """Zhong et al. 2020: a rectangle of 4-25% of the face, aspect 0.3-3.3, filled with noise."""
    n = tf.shape(batch)[0]
    area = tf.random.uniform((n,), 0.04, 0.25) * SIZE * SIZE
    aspect = tf.exp(tf.random.uniform((n,), math.log(0.3), math.log(3.3)))
    h = tf.clip_by_value(tf.sqrt(area * aspect), 4.0, SIZE - 1.0)
    w = tf.clip_by_value(tf.sqrt(area / aspect), 4.0, SIZE - 1.0)
    y0 = tf.random.uniform((n,)) * (SIZE - h)
    x0 = tf.random.uniform((n,)) * (SIZE - w)
    grid = tf.range(SIZE, dtype=tf.float32)
    rows = (grid[None, :] >= y0[:, None]) & (grid[None, :] < (y0 + h)[:, None])
    cols = (grid[None, :] >= x0[:, None]) & (grid[None, :] < (x0 + w)[:, None])
    box = tf.cast(rows[:, :, None] & cols[:, None, :], batch.dtype)[..., None]
    fill = tf.random.uniform(tf.shape(batch), 0.0, 255.0)
    erased = box * fill + (1.0 - box) * batch
    return _mix(batch, erased, probability)


def make_stages(name: str, seed: int, degrade_probability: float = MILD) -> tuple[Augment, Augment]:
    """Recipe ``name``'s two stages: framing and lighting (what a camera and a detector do to the
    face itself), then call degradations (what optics, codecs and occlusion do to the picture).
    Distillation (ml.training.distill) shows the teacher the first stage's output and the student
    the second's, so the student learns to read a degraded face as the teacher reads a clean one.
    ``degrade_probability`` is v3's chance of each of its four degradations."""
    if name == "v1":
        geometric = geometric_v1(seed)
        return (lambda batch: geometric(batch, training=True)), (lambda batch: batch)
    if name == "v3":
        geometric = geometric_v1(seed)

        def degrade_mildly(batch: tf.Tensor) -> tf.Tensor:
            batch = gaussian_blur(batch, probability=degrade_probability)
            batch = down_up(batch, probability=degrade_probability)
            batch = jpeg(batch, probability=degrade_probability)
            batch = noise(batch, probability=degrade_probability)
            return tf.clip_by_value(batch, 0.0, 255.0)

        return (lambda batch: geometric(batch, training=True)), degrade_mildly
    if name != "v2":
        raise ValueError(f"unknown augmentation {name!r}; choose v1, v2 or v3")
    geometric = geometric_v2(seed)

    def degrade(batch: tf.Tensor) -> tf.Tensor:
        batch = gamma(batch)
        batch = gaussian_blur(batch)
        batch = down_up(batch)
        batch = jpeg(batch)
        batch = noise(batch)
        batch = random_erasing(batch)
        return tf.clip_by_value(batch, 0.0, 255.0)

    return (lambda batch: geometric(batch, training=True)), degrade


def make_augmenter(name: str, seed: int, degrade_probability: float = MILD) -> Augment:
    """The batch transform for recipe ``name`` (``v1``, ``v2`` or ``v3``); a function of a (B,48,48,1) batch."""
    framing, degrade = make_stages(name, seed, degrade_probability)
    return lambda batch: degrade(framing(batch))


def mixup(
    faces: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor, alpha: float
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Zhang et al. 2018: each face blended with another face of the batch, its soft vote target
    and loss weight blended in the same proportion (lambda ~ Beta(alpha, alpha), one per face).

    A blend of two expressions is a face between them with a target between them, which is what a
    subtle expression is: it asks the network for graded readings instead of snapping every face
    that is not clearly expressive to the majority class.
    """
    n = tf.shape(faces)[0]
    a = tf.random.gamma((n,), alpha)
    b = tf.random.gamma((n,), alpha)
    lam = a / tf.maximum(a + b, 1e-12)
    partner = tf.random.shuffle(tf.range(n))
    lam_faces = tf.reshape(lam, (-1, 1, 1, 1))
    lam_rows = tf.reshape(lam, (-1, 1))
    mixed_faces = lam_faces * faces + (1.0 - lam_faces) * tf.gather(faces, partner)
    mixed_targets = lam_rows * targets + (1.0 - lam_rows) * tf.gather(targets, partner)
    mixed_weights = lam * weights + (1.0 - lam) * tf.gather(weights, partner)
    return mixed_faces, mixed_targets, mixed_weights
