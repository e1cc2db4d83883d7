"""Train the digit check (`digitrec.nets.digit_check`), the network behind "not a digit": MNIST training
digits (as they are, photographed and typeset) against the non-digits of `digitrec.data.negatives`, then
the threshold that keeps 99 % of the validation digits and the ONNX twin (`digitrec.training.digit_check`).

    python scripts/train_digit_check.py --out runs/digit_check [--seed 0] [--epochs 6]

The bundled check is a run of this script with its defaults, its three files copied into
src/digitrec/bundled/ (`digit_check.keras`, `digit_check.onnx`, `digit_check.json`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from digitrec.training import digit_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    for name in ("seed", "negatives", "photos", "typeset", "scans", "line_digits", "line_others", "limit", "epochs"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=digit_check.SETTINGS[name])
    parser.add_argument("--lr", type=float, default=digit_check.SETTINGS["lr"])
    parser.add_argument("--data", help="mnist, mnist:DIR or kaggle:DIR (default: $DIGITREC_DATA, else mnist)")
    parser.add_argument("--workers", type=int, default=2, help="processes that draw the examples")
    args = parser.parse_args()
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "workers")}
    summary = digit_check.train(args.out, workers=args.workers, **settings)
    print({k: summary[k] for k in ("threshold", "validation", "train_seconds")})


if __name__ == "__main__":
    main()
