"""What ensembling buys: MNIST-test accuracy of each trained run, their mean ± std, and of the ensemble
that averages their probabilities (as `digitrec train --ensemble K` / `evaluate` do), plain and with TTA.

    python benchmarks/ensemble_gain.py --name best RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from digitrec.data import load_dataset
from digitrec.inference import Predictor, load_predictor

from _common import command, data_spec, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--name", required=True, help="label for the results file, e.g. the preset")
    args = parser.parse_args()
    data = load_dataset(data_spec("mnist"))
    accuracy = lambda probs: float((probs.argmax(1) == data.y_test).mean())  # noqa: E731
    members = [load_predictor(run) for run in args.runs]
    singles = [accuracy(m.predict_proba(data.x_test)) for m in members]
    ensemble = Predictor([model for m in members for model in m.models], f"ensemble of {len(members)}")
    result = {
        "runs": [os.path.basename(os.path.normpath(r)) for r in args.runs],
        "single_accuracies": singles,
        "mean": statistics.mean(singles),
        "std": statistics.stdev(singles) if len(singles) > 1 else 0.0,
        "ensemble_accuracy": accuracy(ensemble.predict_proba(data.x_test)),
        "ensemble_tta_accuracy": accuracy(ensemble.predict_proba(data.x_test, tta=True)),
    }
    print(
        f"{args.name}: single {result['mean']:.4%} ± {result['std']:.4%} ({', '.join(f'{a:.2%}' for a in singles)}); "
        f"ensemble of {len(members)} {result['ensemble_accuracy']:.4%}, with TTA {result['ensemble_tta_accuracy']:.4%}"
    )
    write_result(
        f"ensemble_gain_{args.name}",
        {
            "command": command(),
            "data": "MNIST t10k; each run trained on MNIST train only (54,000 / 6,000 validation)",
            **result,
        },
    )


if __name__ == "__main__":
    main()
