"""What test-time augmentation buys: MNIST-test accuracy of a model with and without TTA (the image plus
four one-pixel shifts, probabilities averaged), and what it costs in inference time.

    python benchmarks/tta_gain.py [MODEL_OR_RUN_DIR ...]      # default: the bundled model
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from digitrec.data import load_dataset
from digitrec.inference import load_predictor

from _common import data_spec, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=[None])
    args = parser.parse_args()
    data = load_dataset(data_spec("mnist"))
    rows = []
    for source in args.models:
        predictor = load_predictor(source)
        predictor.predict_proba(data.x_test[:1000])  # warm-up
        row = {"model": predictor.name}
        for tta in (False, True):
            start = time.perf_counter()
            probs = predictor.predict_proba(data.x_test, tta=tta)
            key = "tta" if tta else "plain"
            row[f"{key}_accuracy"] = float((probs.argmax(1) == data.y_test).mean())
            row[f"{key}_seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
        print(
            f"{row['model']}: {row['plain_accuracy']:.4%} → TTA {row['tta_accuracy']:.4%} "
            f"({row['plain_seconds']} s → {row['tta_seconds']} s for 10,000 images)"
        )
    write_result(
        "tta_gain",
        {
            "command": "python benchmarks/tta_gain.py " + " ".join(sys.argv[1:]),
            "data": "MNIST t10k (10,000 images)",
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
