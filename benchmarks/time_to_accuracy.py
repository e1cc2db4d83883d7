"""Time to accuracy and final accuracy of the presets on MNIST, on this machine, in one process.

Each preset trains on MNIST train (54,000 images; 6,000 held out for validation, which is all any recipe
selects on) and is scored on the MNIST test set after every epoch; scoring time is excluded from the clock.
Prints wall seconds until test accuracy first reaches each threshold and the ratio to `seed`.

    python benchmarks/time_to_accuracy.py                      # seed, fast, best, seed 0
    python benchmarks/time_to_accuracy.py --presets fast,best --seeds 0,1,2
    python benchmarks/time_to_accuracy.py --quick              # fast only, a few minutes
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np

from digitrec import recipes, training
from digitrec.data import load_dataset
from digitrec.data.prepare import normalize
from digitrec.inference import Predictor, load_predictor
from digitrec.inference.keras_model import KerasModel

from _common import data_spec, peak_rss_mib, write_result

THRESHOLDS = (0.99, 0.995, 0.996, 0.997)


class TestAccuracyClock(keras.callbacks.Callback):
    """Scores the test set after each epoch, with the scoring time kept off the training clock."""

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = normalize(x_test), y_test
        self.train_seconds = 0.0
        self.curve: list[dict] = []

    def on_train_begin(self, logs=None):
        self.mark = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self.mark
        probs = Predictor([KerasModel(self.model)], "bench", probe=False).predict_proba(self.x_test)
        acc = float((probs.argmax(1) == self.y_test).mean())
        self.curve.append(
            {
                "epoch": epoch + 1,
                "seconds": round(self.train_seconds, 1),
                "test_accuracy": acc,
                "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
            }
        )
        print(f"    epoch {epoch + 1}: {self.train_seconds:6.0f} s  test {acc:.4%}", flush=True)
        self.mark = time.perf_counter()


def run_one(preset: str, seed: int, data, epochs: int | None, workdir: str) -> dict:
    recipe = recipes.get(preset)
    if epochs:
        recipe = recipe.replace(epochs=epochs)
    clock = TestAccuracyClock(data.x_test, data.y_test)
    run_dir = os.path.join(workdir, f"{recipe.name}-{seed}")
    run = training.train(recipe, data, run_dir, seed=seed, callbacks=[clock], verbose=0)
    # The run's final model is what a user gets (EMA weights swapped in, if the recipe uses them).
    final_probs = load_predictor(run.path).predict_proba(data.x_test)
    reached = {
        f"{t:.1%}": next((c["seconds"] for c in clock.curve if c["test_accuracy"] >= t), None) for t in THRESHOLDS
    }
    return {
        "preset": recipe.name,
        "seed": seed,
        "epochs": recipe.epochs,
        "recipe": recipe.to_dict(),
        "train_seconds": round(clock.train_seconds, 1),
        "time_to_accuracy": reached,
        "final_test_accuracy": float((final_probs.argmax(1) == data.y_test).mean()),
        "final_probs": final_probs,
        "curve": clock.curve,
    }


def summarize(runs: list[dict], y_test: np.ndarray) -> dict:
    summary = {}
    for preset in dict.fromkeys(r["preset"] for r in runs):
        group = [r for r in runs if r["preset"] == preset]
        accs = [r["final_test_accuracy"] for r in group]
        entry = {
            "seeds": [r["seed"] for r in group],
            "mean": statistics.mean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "mean_train_seconds": statistics.mean(r["train_seconds"] for r in group),
        }
        if len(group) > 1:
            ensemble = np.mean([r["final_probs"] for r in group], axis=0)
            entry["ensemble_test_accuracy"] = float((ensemble.argmax(1) == y_test).mean())
        summary[preset] = entry
    return summary


def print_tables(runs: list[dict], summary: dict) -> None:
    base = next((r for r in runs if r["preset"] == "seed"), None)
    print(
        f"\n{'preset':8} {'seed':>4} {'train s':>8} "
        + " ".join(f"{t:>7.1%}" for t in THRESHOLDS)
        + f" {'final':>8} {'seed÷':>6}"
    )
    for r in runs:
        cells = " ".join(f"{v:7.0f}" if v is not None else "      -" for v in r["time_to_accuracy"].values())
        ratio = f"{base['train_seconds'] / r['train_seconds']:6.1f}" if base else "     -"
        print(
            f"{r['preset']:8} {r['seed']:>4} {r['train_seconds']:8.0f} {cells} {r['final_test_accuracy']:8.4%} {ratio}"
        )
    for preset, entry in summary.items():
        extra = (
            f", ensemble of {len(entry['seeds'])}: {entry['ensemble_test_accuracy']:.4%}"
            if "ensemble_test_accuracy" in entry
            else ""
        )
        print(
            f"{preset}: final test accuracy {entry['mean']:.4%} ± {entry['std']:.4%} over {len(entry['seeds'])} "
            f"seed(s), {entry['mean_train_seconds']:.0f} s each{extra}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="seed,fast,best")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs", help="explicit PRESET:SEED list, run in this order (overrides --presets/--seeds)")
    parser.add_argument("--epochs", type=int, help="override every preset's epochs (exploration only)")
    parser.add_argument("--quick", action="store_true", help="fast preset, seed 0 only")
    parser.add_argument("--name", default=None, help="results file name (default from the presets)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the run directories (models) here, e.g. for benchmarks/ensemble_gain.py; default: a temporary dir",
    )
    args = parser.parse_args()
    if args.quick:
        plan = [("fast", 0)]
    elif args.runs:
        plan = [(p, int(s)) for p, s in (item.split(":") for item in args.runs.split(","))]
    else:
        plan = [(p, int(s)) for p in args.presets.split(",") for s in args.seeds.split(",")]
    name = args.name or "time_to_accuracy" + ("_quick" if args.quick else "")

    data = load_dataset(data_spec("mnist"))
    runs = []
    with contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory() as workdir:
        for preset, seed in plan:
            print(f"{preset} seed {seed}", flush=True)
            runs.append(run_one(preset, seed, data, args.epochs, workdir))
            summary = summarize(runs, data.y_test)
            # Written after every run, so a long sweep that is cut short still leaves its measurements.
            write_result(
                name,
                {
                    "command": "python benchmarks/time_to_accuracy.py " + " ".join(sys.argv[1:]),
                    "data": "MNIST train (54,000 train / 6,000 validation, stratified, split seed = run seed); "
                    "scored on MNIST t10k after every epoch, scoring excluded from the clock",
                    "complete": len(runs) == len(plan),
                    "summary": summary,
                    "runs": [{k: v for k, v in r.items() if k != "final_probs"} for r in runs],
                    "peak_rss_mib": round(peak_rss_mib()),
                },
            )
    print_tables(runs, summary)


if __name__ == "__main__":
    main()
