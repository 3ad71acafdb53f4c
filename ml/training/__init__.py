"""Training, evaluation and export of the emotion model.

Training and export need the ``train`` extra (TensorFlow); evaluation (``evaluate``,
``folder_eval``, ``degrade``, ``data``) needs only NumPy, OpenCV and ONNX Runtime, so ``emotrace
evaluate`` runs on a serving install. This package therefore imports nothing itself.
"""
