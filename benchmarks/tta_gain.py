"""What test-time augmentation buys: accuracy of a model with and without TTA (the image plus four
one-pixel shifts, probabilities averaged), and what it costs in inference time.

For a run directory trained with a validation split, that split is rebuilt from its config (same seed,
same images) and scored first: whether TTA helps is decided there, never on MNIST test, which is scored
after and only reported.

    python benchmarks/tta_gain.py [MODEL_OR_RUN_DIR ...] [--name RESULT]   # default: the bundled model
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np

from digitrec.data import load_dataset, prepare
from digitrec.inference import load_predictor
from digitrec.rundir import Run

from _common import command, data_spec, write_result


def validation_split(source: str | None, data) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation images and labels a run directory was selected on (None: not a run, or no split)."""
    if source is None or not Run(source).exists():
        return None
    config = Run(source).config()
    if not config.get("val_images"):
        return None
    split = prepare.split(
        data.x_train, data.y_train, config["recipe"]["val_fraction"], config["split_seed"], config["limit"]
    )
    if len(split.x_val) != config["val_images"]:
        sys.exit(f"{source}: its validation split does not match this data ({len(split.x_val)} images)")
    return split.x_val, split.y_val


def accuracies(predictor, images: np.ndarray, labels: np.ndarray, prefix: str, row: dict) -> None:
    for tta in (False, True):
        start = time.perf_counter()
        probs = predictor.predict_proba(images, tta=tta)
        key = f"{prefix}{'tta' if tta else 'plain'}"
        row[f"{key}_accuracy"] = float((probs.argmax(1) == labels).mean())
        row[f"{key}_errors"] = int((probs.argmax(1) != labels).sum())
        row[f"{key}_seconds"] = round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=[None])
    parser.add_argument("--name", default="tta_gain", help="the result file's name under benchmarks/results")
    args = parser.parse_args()
    data = load_dataset(data_spec("mnist"))
    rows = []
    for source in args.models:
        predictor = load_predictor(source)
        predictor.predict_proba(data.x_test[:1000])  # warm-up
        row: dict = {"model": predictor.name}
        validation = validation_split(source, data)
        if validation is not None:
            accuracies(predictor, *validation, "val_", row)
            print(
                f"{row['model']}: validation ({len(validation[1]):,} images) {row['val_plain_accuracy']:.4%} → "
                f"TTA {row['val_tta_accuracy']:.4%} ({row['val_plain_errors']} → {row['val_tta_errors']} errors)"
            )
        accuracies(predictor, data.x_test, data.y_test, "", row)
        rows.append(row)
        print(
            f"{row['model']}: {row['plain_accuracy']:.4%} → TTA {row['tta_accuracy']:.4%} "
            f"({row['plain_seconds']} s → {row['tta_seconds']} s for 10,000 images)"
        )
    write_result(
        args.name,
        {
            "command": command(),
            "data": "a run's own validation split when it has one (selection), then MNIST t10k (10,000 images)",
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
