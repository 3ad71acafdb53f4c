"""The shipped model's recipe: two training stages behind one resumable command.

Stage 1 learns FER+ from the ImageNet initialisation with mild augmentation: the network that
scores well on FER's own tiles. Stage 2 fine-tunes it for faces from calls and from people
unlike FER2013's: framing from tight detector boxes to loose tiles, blur, JPEG, low resolution,
noise and occlusion in the augmentation; square-root class balancing so that fear, disgust and
contempt weigh in the loss; and a temperature fitted to the Valid majority labels, which is what
the calibration error is measured against. Each stage is a directory of its own under ``out``, so
a rerun after an interruption resumes the unfinished stage and skips a finished one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.training.train import TrainConfig, train

STAGE1_DIR = "stage1"
STAGE2_DIR = "stage2"
# What each stage changes in the base configuration (epochs are arguments of the recipe).
STAGE1: dict[str, Any] = {"learning_rate": 1e-3, "augment": "v1", "class_balance": 0.0, "calibrate_to": "majority"}
STAGE2: dict[str, Any] = {"learning_rate": 5e-4, "augment": "v2", "class_balance": 0.5, "calibrate_to": "majority"}


def stage_configs(
    base: TrainConfig, *, stage1_epochs: int = 14, stage2_epochs: int = 0, init_from: str | None = None
) -> list[TrainConfig]:
    """The configurations the recipe runs, in order.

    ``base`` carries the data, ImageNet arrays, run directory, export directory and seed. Stage 2
    runs only with ``stage2_epochs`` > 0: as measured so far (ml/MODEL_CARD.md, "Recipe changes")
    it costs FER+ and cross-domain accuracy, so the shipped model is stage 1's. With ``init_from``
    (a trained network, e.g. an earlier export) stage 1 is skipped and stage 2 starts from it.
    """
    out = Path(base.out)
    stages: list[TrainConfig] = []
    if init_from is None:
        export_dir = None if stage2_epochs > 0 else base.export_dir
        stages.append(
            replace(
                base, **STAGE1, out=str(out / STAGE1_DIR), epochs=stage1_epochs, init_from=None, export_dir=export_dir
            )
        )
        if stage2_epochs == 0:
            return stages
        init_from = str(out / STAGE1_DIR / "final.keras")
    stages.append(replace(base, **STAGE2, out=str(out / STAGE2_DIR), epochs=stage2_epochs, init_from=init_from))
    return stages


def finished(config: TrainConfig) -> bool:
    """A stage is finished once it has written its result and its network (in that order)."""
    out = Path(config.out)
    return (out / "result.json").is_file() and (out / "final.keras").is_file()


def run_recipe(
    base: TrainConfig, *, stage1_epochs: int = 14, stage2_epochs: int = 0, init_from: str | None = None
) -> dict[str, float]:
    """Run the stages not yet finished; returns the last stage's result (empty if none ran)."""
    result: dict[str, float] = {}
    for config in stage_configs(base, stage1_epochs=stage1_epochs, stage2_epochs=stage2_epochs, init_from=init_from):
        if finished(config):
            print(f"{config.out}: finished earlier, kept", flush=True)
            continue
        print(f"{config.out}: training", flush=True)
        result = train(config)
    return result
