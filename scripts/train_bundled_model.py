"""Ship a model inside the package (src/digitrec/bundled/), so `predict` and `serve` work on a fresh
install with no training and no network: its Keras file, ONNX twins (float32, int8) and model.json
(recipe, seed, calibration temperature, validation and MNIST-test accuracy, how to reproduce it).

    python scripts/train_bundled_model.py --run runs/robust       # ship a run trained and selected already
    python scripts/train_bundled_model.py [--preset robust] [--seed 0]   # or train one here, then ship it

From the repository root. The run must be trained on MNIST train only (so that its t10k score is honest);
the choice between candidates is made on validation (benchmarks/robustness.py --split val), never on test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from digitrec import training
from digitrec.bundled import INT8 as BUNDLED_INT8
from digitrec.bundled import KERAS as BUNDLED_MODEL
from digitrec.bundled import META as BUNDLED_META
from digitrec.bundled import ONNX as BUNDLED_ONNX
from digitrec.data import load_dataset
from digitrec.evaluation.report import answers_sha256, compute_metrics
from digitrec.export.convert import export_model
from digitrec.export.quantize import calibration_images
from digitrec.fileio import atomic_path, write_json
from digitrec.inference import Predictor
from digitrec.inference.keras_model import KerasModel, load_keras_model
from digitrec.rundir import Run
from digitrec.runtime.provenance import versions
from digitrec.training import recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a finished run directory to ship (default: train one)")
    parser.add_argument("--preset", default="robust")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        default="mnist:../shared/data/mnist",
        help="MNIST only: the bundled model must never have seen the test digits",
    )
    args = parser.parse_args()

    if args.run is not None:
        run = Run(args.run)
        config = run.config()
        data = load_dataset(config["data"])
        model, command = load_keras_model(run.file("model.keras")), f"--run {args.run}"
        same = [
            name for name, preset in recipes.PRESETS.items() if _unnamed(preset.to_dict()) == _unnamed(config["recipe"])
        ]
        recipe_option = same[0] if same else "RECIPE.json"
        trained = f"digitrec train --preset {recipe_option} --data mnist:DIR --seed {config['seed']} --out {args.run}"
    else:
        data = load_dataset(args.data)
        with tempfile.TemporaryDirectory() as tmp:
            run = training.train(recipes.get(args.preset), data, Path(tmp) / "run", seed=args.seed, verbose=2)
            config, state, history = run.config(), run.state() or {}, run.history()
            model = load_keras_model(run.file("model.keras"))
        command, trained = f"--preset {args.preset} --seed {args.seed}", "(by this script)"
    if data.spec.kind != "mnist" or config.get("limit"):
        raise SystemExit("the bundled model must be trained on all of MNIST train only: its t10k score must be honest")
    if args.run is not None:
        state, history = run.state() or {}, run.history()
    probabilities = Predictor([KerasModel(model)], "bundled").predict_proba(data.x_test)
    metrics = compute_metrics(data.y_test, probabilities)

    # Ship weights only: an uncompiled copy drops the optimizer state (a third of the file).
    shipped = keras.models.clone_model(model)
    shipped.set_weights(model.get_weights())
    with atomic_path(BUNDLED_MODEL, suffix=".keras") as tmp_path:
        shipped.save(tmp_path)
    # The ONNX twin that predict/serve use when onnxruntime is installed (parity: tests/test_export.py).
    source = BUNDLED_MODEL.relative_to(Path.cwd())
    export_model(source, "onnx", BUNDLED_ONNX.relative_to(Path.cwd()), force=True)
    # And an int8 one for batch throughput, calibrated on training images only.
    export_model(
        source,
        "onnx",
        BUNDLED_INT8.relative_to(Path.cwd()),
        force=True,
        int8_calibration=calibration_images(data.x_train),
    )
    write_json(
        BUNDLED_META,
        {
            "file": BUNDLED_MODEL.name,
            "sha256": hashlib.sha256(BUNDLED_MODEL.read_bytes()).hexdigest(),
            "bytes": BUNDLED_MODEL.stat().st_size,
            "command": f"python scripts/train_bundled_model.py {command}",
            "trained_with": trained,
            "recipe": config["recipe"],
            "seed": config["seed"],
            "data": "MNIST train (54,000 train / 6,000 validation, stratified split, seed as above)",
            "temperature": state.get("temperature"),
            "validation_accuracy": float(history[-1]["val_accuracy"]) if history else None,
            "mnist_test_accuracy": metrics["accuracy"],
            "mnist_test_errors": metrics["errors"],
            "mnist_test_loss": metrics["loss"],
            "mnist_test_answers_sha256": answers_sha256(probabilities),
            "train_seconds": round(state.get("elapsed_seconds", 0.0), 1),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%d"),
        },
    )
    print(
        f"bundled {config['recipe']['name']}: MNIST test accuracy {metrics['accuracy']:.4%}, "
        f"{BUNDLED_MODEL.stat().st_size / 1e6:.1f} MB"
    )


def _unnamed(recipe: dict) -> dict:
    return {k: v for k, v in recipe.items() if k != "name"}


if __name__ == "__main__":
    main()
