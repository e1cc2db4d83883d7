"""The seed recipe end to end, as the original kernel ran it: Kaggle train.csv, 10% stratified validation,
30 epochs of batch 86. Prints and records the validation accuracy and the wall time.

    python benchmarks/seed_recipe.py [--epochs 30] [--out runs/seed-kaggle]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

from digitrec import training
from digitrec.data import load_dataset
from digitrec.rundir import Run
from digitrec.training import recipes

from _common import data_spec, peak_rss_mib, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/seed-kaggle")
    args = parser.parse_args()

    data = load_dataset(data_spec("kaggle"), with_test=False)
    recipe = recipes.get("seed").replace(epochs=args.epochs)
    shutil.rmtree(args.out, ignore_errors=True)
    start = time.perf_counter()
    training.train(recipe, data, args.out, seed=args.seed)
    wall = time.perf_counter() - start
    history = Run(args.out).history()
    final = history[-1]
    print(
        f"seed recipe: {args.epochs} epochs, val accuracy {final['val_accuracy']:.4%} "
        f"(best {max(h['val_accuracy'] for h in history):.4%}), wall {wall / 60:.1f} min"
    )
    write_result(
        f"seed_recipe_{args.epochs}ep",
        {
            "command": f"python benchmarks/seed_recipe.py --epochs {args.epochs} --seed {args.seed}",
            "data": f"Kaggle train.csv, 90/10 stratified split (seed {args.seed})",
            "epochs": args.epochs,
            "seed": args.seed,
            "wall_seconds": round(wall, 1),
            "val_accuracy_final": final["val_accuracy"],
            "val_loss_final": final["val_loss"],
            "val_accuracy_best": max(h["val_accuracy"] for h in history),
            "peak_rss_mib": round(peak_rss_mib()),
            "history": history,
        },
    )


if __name__ == "__main__":
    main()
