"""Training, evaluation and export of the emotion model (needs the ``train`` extra: TensorFlow)."""
