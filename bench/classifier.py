"""Classifier throughput: the serving runtime (ONNX Runtime) against plain TensorFlow, one run.

    python bench/classifier.py [--batch 32] [--repeats 20] [--json out.json] [--model M] [--baseline B]

Both run the same serving function (upsampling, flip averaging when the shipped model uses it,
temperature, softmax) on the same batch of 48x48 faces, after a warm-up, and report the median
over repeats, every model in turn within each round (a machine whose speed drifts moves them
alike). The faces are FER+ Valid faces when ``../shared/data/ferplus`` is there (random pixels
otherwise): a model that routes faces between two networks by their quality then splits the
batch as it would split real faces, and is measured against its clean network alone in the same
run (the cost of the gate and of the split); an int8 copy (``ml.training.quantize``) is measured
against the float export it was quantized from. The TensorFlow side uses the training run's
weights when ``runs/emotion/final.keras`` exists, else the same architecture untrained:
throughput does not depend on weight values. Needs the ``train`` extra for the TensorFlow half;
prints the ONNX figures alone without it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.classifier import DEFAULT_MODEL, EmotionClassifier

TARGET_FACES_PER_S = 850.0


def median_rates(runs: dict[str, Callable[[], object]], faces: int, repeats: int) -> dict[str, float]:
    """Faces per second of each run, timed in turns (one call of each per round), so a machine
    that slows down or speeds up mid-run moves every figure alike and the ratios hold."""
    for run in runs.values():
        run()
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: faces / statistics.median(t) for name, t in times.items()}


def tensorflow_runner(meta: dict[str, object], batch: np.ndarray) -> tuple[Callable[[], object], str]:
    import keras
    import tensorflow as tf

    from ml.training.export import serving_function
    from ml.training.model import build_emotion_model

    members = meta.get("members")
    if isinstance(members, list):  # an ensemble export (ml.training.ensemble): as many networks, untrained
        from ml.training.ensemble import ensemble_model

        model = ensemble_model([build_emotion_model(96) for _ in members])
        source = f"untrained, same architecture ({len(members)} networks)"
    elif Path("runs/emotion/final.keras").exists():
        model, source = keras.models.load_model("runs/emotion/final.keras", compile=False), "trained weights"
    else:
        training = meta.get("training", {})
        config = training.get("config", {}) if isinstance(training, dict) else {}
        model, source = build_emotion_model(int(config.get("resolution", 96))), "untrained, same architecture"
    temperature = meta.get("temperature", 1.0)
    assert isinstance(temperature, (int, float))
    function = serving_function(model, temperature=float(temperature), flip_tta=bool(meta.get("flip_tta")))
    tensor = tf.constant(batch)
    return (lambda: function(tensor).numpy()), source


def bench_faces(count: int) -> list[np.ndarray]:
    """FER+ Valid faces (real faces, as the quality gate sees them), or random ones without the data."""
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "ferplus" / "images" / "FER2013Valid"
    files = sorted(folder.glob("*.png"))[:count] if folder.is_dir() else []
    faces = [face for face in (cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files) if face is not None]
    if len(faces) == count:
        return [np.asarray(face) for face in faces]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(count)]


def float_source(model: Path, quantization: dict[str, object]) -> EmotionClassifier:
    """The float export an int8 one was quantized from: beside it, or the shipped one."""
    for folder in (model.parent, DEFAULT_MODEL.parent):
        candidate = folder / str(quantization["from_model"])
        if candidate.is_file():
            source = EmotionClassifier.load(candidate)
            if source.metadata.get("sha256") == quantization.get("from_sha256"):
                return source
    raise SystemExit(f"{model}: the float export it was quantized from is not found; give --baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--model", default=None, help="ONNX model to measure (default: the shipped one)")
    parser.add_argument("--baseline", default=None, help="another ONNX model measured in the same run, as a ratio")
    args = parser.parse_args()

    classifier = EmotionClassifier.load(args.model)
    crops = bench_faces(args.batch)
    batch = classifier.preprocess(crops)
    results: dict[str, object] = {"batch": args.batch, "flip_tta": classifier.metadata.get("flip_tta")}
    baselines: list[tuple[str, EmotionClassifier]] = []
    quantization = classifier.metadata.get("quantization")
    if args.baseline:
        baselines.append(("baseline", EmotionClassifier.load(args.baseline)))
    elif isinstance(quantization, dict):
        baselines.append(("float export", float_source(Path(args.model or DEFAULT_MODEL), quantization)))
    if classifier.gate is not None and not args.baseline:
        baselines.append(("clean network alone", EmotionClassifier.load(args.model, routed=False)))
    runs: dict[str, Callable[[], object]] = {"onnxruntime": partial(classifier.predict, crops)}
    runs.update((name, partial(baseline.predict, crops)) for name, baseline in baselines)
    rates = median_rates(runs, args.batch, args.repeats)
    try:
        run_tf, source = tensorflow_runner(classifier.metadata, batch)
    except ImportError:
        pass
    else:  # timed on its own: TensorFlow's thread pools keep spinning after a call, slowing the next
        rates.update(median_rates({"tensorflow": run_tf}, args.batch, args.repeats))
    ort_rate = rates["onnxruntime"]
    results["onnxruntime_faces_per_s"] = round(ort_rate, 1)
    line = f"batch {args.batch} | onnxruntime {ort_rate:.0f} faces/s"
    if classifier.gate is not None:
        share = float(classifier.degraded(crops).mean())
        results["faces_to_call_network"] = round(share, 3)
        line += f" ({share:.0%} of faces to the call network)"
    for i, (baseline_name, _) in enumerate(baselines):
        base_rate = rates[baseline_name]
        key = "baseline" if i == 0 else baseline_name.replace(" ", "_")
        results.update({f"{key}_faces_per_s": round(base_rate, 1), f"versus_{key}": round(ort_rate / base_rate, 2)})
        line += f" | {baseline_name} {base_rate:.0f} faces/s ({ort_rate / base_rate:.2f}x)"
    if "tensorflow" in rates:
        tf_rate = rates["tensorflow"]
        results.update(
            tensorflow_faces_per_s=round(tf_rate, 1), tensorflow_weights=source, speedup=round(ort_rate / tf_rate, 2)
        )
        line += f" | tensorflow {tf_rate:.0f} faces/s | onnxruntime/tensorflow {ort_rate / tf_rate:.2f}x"
    else:
        line += " | tensorflow not installed (pip install -e '.[train]')"
    verdict = "met" if ort_rate >= TARGET_FACES_PER_S else "NOT met"
    line += f" | target serving >= {TARGET_FACES_PER_S:.0f} faces/s: {verdict}"
    print(line)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
