"""Train the model that ships inside the package (src/digitrec/bundled/), so `predict` and `serve` work
on a fresh install with no training and no network. Records how it was trained and its MNIST-test accuracy
in model.json beside it.

    python scripts/train_bundled_model.py [--preset fast] [--seed 0]      # from the repository root
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

from digitrec import recipes, training
from digitrec.bundled import INT8 as BUNDLED_INT8
from digitrec.bundled import KERAS as BUNDLED_MODEL
from digitrec.bundled import META as BUNDLED_META
from digitrec.bundled import ONNX as BUNDLED_ONNX
from digitrec.data import load_dataset
from digitrec.evaluation import answers_sha256, compute_metrics
from digitrec.export import export_model
from digitrec.fileio import atomic_path, write_json
from digitrec.inference import Predictor
from digitrec.inference.keras_model import KerasModel, load_keras_model
from digitrec.provenance import versions
from digitrec.quantize import calibration_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        default="mnist:../shared/data/mnist",
        help="MNIST only: the bundled model must never have seen the test digits",
    )
    args = parser.parse_args()

    data = load_dataset(args.data)
    if data.spec.kind != "mnist":
        raise SystemExit("train the bundled model on MNIST train only, so that its t10k score is honest")
    recipe = recipes.get(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = training.train(recipe, data, Path(tmp) / "run", seed=args.seed, verbose=2)
        seconds = time.perf_counter() - start
        model = load_keras_model(run.file("model.keras"))
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
            "command": f"python scripts/train_bundled_model.py --preset {args.preset} --seed {args.seed}",
            "recipe": recipe.to_dict(),
            "seed": args.seed,
            "data": "MNIST train (54,000 train / 6,000 validation, stratified split, seed as above)",
            "mnist_test_accuracy": metrics["accuracy"],
            "mnist_test_errors": metrics["errors"],
            "mnist_test_loss": metrics["loss"],
            "mnist_test_answers_sha256": answers_sha256(probabilities),
            "train_seconds": round(seconds, 1),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%d"),
        },
    )
    print(
        f"bundled {args.preset}: MNIST test accuracy {metrics['accuracy']:.4%}, "
        f"{BUNDLED_MODEL.stat().st_size / 1e6:.1f} MB, trained in {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
