"""The shipped model's recipe behind one resumable command, and a measured alternative.

The shipped model is a routed pair (``ml.quality``, ``ml.training.routing``):

- stage 1 learns FER+ from the ImageNet initialisation with mild augmentation: the clean network,
  which reads sharp faces best;
- stage 2 fine-tunes stage 1's network for call conditions (``v3`` augmentation: stage 1's framing,
  plus blur, down-then-up scaling, JPEG and noise on about half the faces): the call network;
- a quality gate fitted on FER+ Valid sends each face to one of the two;
- the zooms around the crop at which each network reads a face are fitted on FER+ Valid
  (``ml.framings``, ``ml.training.framings``).

``calls_epochs`` > 0 (with ``stage2_epochs`` 0) is the experiment kept so that its figures in
ml/MODEL_CARD.md ("Recipe changes") can be reproduced by the same command: a second network
trained from the same start with heavier call-condition augmentation (``v2``), exported as the
ensemble of both (:mod:`ml.training.ensemble`).

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
EXPORT_DIR = "export"  # inside a network's directory: its single-network export, for the routed pair
# What each network changes in the base configuration (epochs are arguments of the recipe).
STAGE1: dict[str, Any] = {"learning_rate": 1e-3, "augment": "v1", "class_balance": 0.0, "calibrate_to": "majority"}
CALLS: dict[str, Any] = {"learning_rate": 1e-3, "augment": "v2", "class_balance": 0.0, "calibrate_to": "majority"}
STAGE2: dict[str, Any] = {"learning_rate": 3e-4, "augment": "v3", "class_balance": 0.0, "calibrate_to": "majority"}


def stage_configs(
    base: TrainConfig,
    *,
    stage1_epochs: int = 14,
    calls_epochs: int = 0,
    stage2_epochs: int = 0,
    init_from: str | None = None,
) -> list[TrainConfig]:
    """The networks the recipe trains, in order.

    ``base`` carries the data, ImageNet arrays, run directory, export directory and seed. Stage 1
    alone is exported alone. With ``stage2_epochs``, stage 1 (or ``init_from``, an ONNX export)
    and its stage 2 fine-tune each get a single-network export in their run directory, and
    :func:`run_recipe` writes the routed pair to the export directory. With ``calls_epochs``,
    stage 1 and the ``calls`` network are exported together as an ensemble.
    """
    if stage2_epochs > 0 and calls_epochs > 0:
        raise ValueError("stage 2 and the calls network are two different experiments: give one of them 0 epochs")
    if stage2_epochs > 0 and init_from is not None and Path(init_from).suffix != ".onnx":
        raise ValueError(f"the routed pair serves {init_from} as its clean network: give an .onnx export")
    out = Path(base.out)
    stages: list[TrainConfig] = []
    if init_from is None:
        if stage2_epochs > 0:
            export_dir: str | None = str(out / STAGE1_DIR / EXPORT_DIR)
        else:
            export_dir = base.export_dir if calls_epochs == 0 else None
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
    stages.append(
        replace(
            base,
            **STAGE2,
            out=str(out / STAGE2_DIR),
            epochs=stage2_epochs,
            init_from=init_from,
            export_dir=str(out / STAGE2_DIR / EXPORT_DIR),
        )
    )
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
    """Train the networks not yet finished, then export (the routed pair or the ensemble, when
    there is one); returns the exported model's Valid result (empty if nothing ran)."""
    configs = stage_configs(
        base, stage1_epochs=stage1_epochs, calls_epochs=calls_epochs, stage2_epochs=stage2_epochs, init_from=init_from
    )
    result: dict[str, Any] = {}
    for config in configs:
        if finished(config):
            print(f"{config.out}: finished earlier, kept", flush=True)
            if config.export_dir and not (Path(config.export_dir) / "emotion.onnx").is_file():
                from ml.training.export import export_run

                export_run(Path(config.out), Path(config.export_dir), flip_tta=config.flip_tta)
            continue
        print(f"{config.out}: training", flush=True)
        result = dict(train(config))
    if not base.export_dir:
        return result
    if stage2_epochs > 0:
        from ml.training.routing import build_routed_export

        *first, stage2 = configs
        clean = Path(first[0].export_dir or "") / "emotion.onnx" if first else Path(stage2.init_from or "")
        calls = Path(stage2.export_dir or "") / "emotion.onnx"
        result = build_routed_export(clean, calls, Path(base.data), Path(base.export_dir))
        print(json.dumps(result), flush=True)
        from ml.training.framings import fit_framings

        framings = fit_framings(Path(base.export_dir) / "emotion.onnx", Path(base.data))
        result["framings"] = {"clean": framings["clean"], "calls": framings["calls"]}
        print(json.dumps(result["framings"]), flush=True)
    elif calls_epochs > 0 and init_from is None:  # configs are stage 1 and calls
        from ml.training.ensemble import build_ensemble

        provenance = [
            {"config": asdict(config), "result": json.loads((Path(config.out) / "result.json").read_text())}
            for config in configs
        ]
        result = build_ensemble(
            [Path(config.out) / "final.keras" for config in configs],
            Path(base.data),
            Path(base.export_dir),
            metadata={"training": {"members": provenance}},
        )
        print(json.dumps(result), flush=True)
    return result
