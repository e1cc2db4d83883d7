"""Train the number reader (`digitrec.nets.reader`), as `digitrec train --number-reader` does, with every
setting at hand: lines composed from the data's training digits (the last tenth for validation; MNIST
test is never used), a resumable run directory, then the validation score per kind of writing, the
whole-number calibration and the ONNX twin (`digitrec.training.reader`).

    python scripts/train_number_reader.py --out runs/reader [--epochs 24] [--lines 40000] [--seed 0]
    python scripts/train_number_reader.py --out runs/reader --resume      # after a kill: the next epoch

The bundled reader is a run of this script with its defaults, copied into src/digitrec/bundled/
(`reader.onnx`, `reader.json`, and `model.keras` as `reader.keras`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from digitrec.training import reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=reader.DEFAULTS["epochs"])
    parser.add_argument("--lines", type=int, default=reader.DEFAULTS["lines"])
    parser.add_argument("--val-lines", type=int, default=reader.DEFAULTS["val_lines"])
    parser.add_argument("--seed", type=int, default=reader.DEFAULTS["seed"])
    parser.add_argument("--lr", type=float, default=reader.DEFAULTS["lr"])
    parser.add_argument("--init", help="a reader (.keras) to start from: fine-tune it on fresh lines")
    parser.add_argument("--data", help="mnist, mnist:DIR or kaggle:DIR (default: $DIGITREC_DATA, else mnist)")
    args = parser.parse_args()
    if args.resume:
        reader.complete(args.out)
    else:
        settings = {k: getattr(args, k) for k in ("epochs", "lines", "val_lines", "seed", "lr", "data", "init")}
        reader.start(args.out, **settings)


if __name__ == "__main__":
    main()
