"""The shipped model's recipe behind one resumable command, and two measured alternatives.

Stage 1 learns FER+ from the ImageNet initialisation with mild augmentation: the shipped network.
Two experiments are kept so that their figures in ml/MODEL_CARD.md ("Recipe changes") can be
reproduced by the same command:

- ``calls_epochs`` > 0 also trains a ``calls`` network from the same start with call-condition
  augmentation (framing from tight detector boxes to loose tiles, tilt, gamma, blur, down-then-up
  scaling, JPEG, noise, occlusion) and exports the ensemble of both (:mod:`ml.training.ensemble`):
  each network runs once per face, so it serves at the single network's flip-averaged cost.
- ``stage2_epochs`` > 0 fine-tunes stage 1's network with that augmentation and square-root class
  balancing, and exports it alone.

Each network is a directory of its own under ``out``, so a rerun after an interruption resumes the
unfinished one and skips finished ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ml.training.train import TrainConfig, train

STAGE1_DIR = "stage1"
CALLS_DIR = "calls"
STAGE2_DIR = "stage2"
# What each network changes in the base configuration (epochs are arguments of the recipe).
STAGE1: dict[str, Any] = {"learning_rate": 1e-3, "augment": "v1", "class_balance": 0.0, "calibrate_to": "majority"}
CALLS: dict[str, Any] = {"learning_rate": 1e-3, "augment": "v2", "class_balance": 0.0, "calibrate_to": "majority"}
STAGE2: dict[str, Any] = {"learning_rate": 5e-4, "augment": "v2", "class_balance": 0.5, "calibrate_to": "majority"}


def stage_configs(
    base: TrainConfig,
    *,
    stage1_epochs: int = 14,
    calls_epochs: int = 0,
    stage2_epochs: int = 0,
    init_from: str | None = None,
) -> list[TrainConfig]:
    """The networks the recipe trains, in order.

    ``base`` carries the data, ImageNet arrays, run directory, export directory and seed. By
    default stage 1 alone is trained and exported. With ``calls_epochs``, stage 1 and the
    ``calls`` network are exported together as an ensemble (:func:`run_recipe`). Stage 2 (a
    fine-tune of stage 1, or of ``init_from``) is exported alone.
    """
    if stage2_epochs > 0 and calls_epochs > 0:
        raise ValueError("stage 2 fine-tunes one network and is exported alone: it cannot run with calls_epochs")
    out = Path(base.out)
    stages: list[TrainConfig] = []
    if init_from is None:
        export_dir = base.export_dir if stage2_epochs == 0 and calls_epochs == 0 else None
        stages.append(
            replace(
                base, **STAGE1, out=str(out / STAGE1_DIR), epochs=stage1_epochs, init_from=None, export_dir=export_dir
            )
        )
        if calls_epochs > 0:
            stages.append(
                replace(base, **CALLS, out=str(out / CALLS_DIR), epochs=calls_epochs, init_from=None, export_dir=None)
            )
        if stage2_epochs == 0:
            return stages
        init_from = str(out / STAGE1_DIR / "final.keras")
    stages.append(replace(base, **STAGE2, out=str(out / STAGE2_DIR), epochs=stage2_epochs, init_from=init_from))
    return stages


def finished(config: TrainConfig) -> bool:
    """A network is finished once it has written its result and its weights (in that order)."""
    out = Path(config.out)
    return (out / "result.json").is_file() and (out / "final.keras").is_file()


def run_recipe(
    base: TrainConfig,
    *,
    stage1_epochs: int = 14,
    calls_epochs: int = 0,
    stage2_epochs: int = 0,
    init_from: str | None = None,
) -> dict[str, Any]:
    """Train the networks not yet finished, then export (the ensemble, when there is one);
    returns the exported model's Valid result (empty if nothing ran)."""
    configs = stage_configs(
        base, stage1_epochs=stage1_epochs, calls_epochs=calls_epochs, stage2_epochs=stage2_epochs, init_from=init_from
    )
    result: dict[str, Any] = {}
    for config in configs:
        if finished(config):
            print(f"{config.out}: finished earlier, kept", flush=True)
            continue
        print(f"{config.out}: training", flush=True)
        result = dict(train(config))
    if calls_epochs > 0 and init_from is None and base.export_dir:  # configs are stage 1 and calls
        from ml.training.ensemble import build_ensemble

        members = configs

        provenance = [
            {"config": asdict(config), "result": json.loads((Path(config.out) / "result.json").read_text())}
            for config in members
        ]
        result = build_ensemble(
            [Path(config.out) / "final.keras" for config in members],
            Path(base.data),
            Path(base.export_dir),
            metadata={"training": {"members": provenance}},
        )
        print(json.dumps(result), flush=True)
    return result
