"""Time to accuracy, drift-resistant: candidate recipes against the seed recipe, measured side by side.

This machine's speed drifts (the same epoch runs 1.5–2× slower in some hours, even for seconds within one),
so a time ratio only counts when both sides are measured in the same minutes. The schedule interleaves
short slices of the seed recipe (the baseline) with whole candidate runs:

    seed slice · candidate run 1 · seed slice · candidate run 2 · seed slice · …

Every clock is the run's own: the per-epoch `elapsed_seconds` of its history (fit time including validation;
no process start-up, data loading, checkpointing or calibration). A seed slice trains the seed recipe for
`--slice-epochs` epochs; its first epoch carries the same one-off graph tracing as a full run's, so the seed
recipe's full time in that slice's minutes is `first + (30 - 1) × median(later epochs)`. Each candidate run
is divided by the mean of the two slices around it; the report gives every ratio, their median and spread.

Accuracy: every run trains on MNIST train only (54,000 images; 6,000 held out, stratified, are all it
selects on: the recipe's own schedule, calibration and the reported time to validation accuracy) and its
final model is scored once on MNIST t10k. Mean ± std over the seeds.

    python benchmarks/time_to_accuracy.py                          # fast × seeds 0,1,2 against seed
    python benchmarks/time_to_accuracy.py --recipes fast,best --seeds 0,1,2 --keep runs/bench
    python benchmarks/time_to_accuracy.py --quick                  # fast, seed 0, one-epoch slices
    python benchmarks/time_to_accuracy.py --combine A.json B.json --name fast_3seeds   # sweeps across sessions

`--combine` joins the runs of earlier result files: each run keeps the ratio to the slices around it in its
own sweep, so a sweep cut into sessions (this machine's slow hours make one sweep of 3 seeds take an hour or
more) adds up to the same report; the ensemble figures need the runs' probabilities (`--with-probs`, the
files `--probs` saved), else they are left out: per recipe, and of all the runs joined (`ensemble_all`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras
import numpy as np

from digitrec import training
from digitrec.data import load_dataset
from digitrec.inference import load_predictor
from digitrec.rundir import Run
from digitrec.training import recipes

from _common import command, data_spec, peak_rss_mib, write_result

VAL_THRESHOLDS = (0.99, 0.995, 0.996, 0.997)


def epoch_seconds(run: Run) -> list[float]:
    """Per-epoch fit seconds from the run's own history (cumulative `elapsed_seconds` differenced)."""
    elapsed = [row["elapsed_seconds"] for row in run.history()]
    return [round(b - a, 3) for a, b in zip([0.0, *elapsed], elapsed, strict=False)]


def seed_slice(data, seed: int, epochs: int, workdir: str, index: int) -> dict:
    """A few epochs of the seed recipe → its full run's estimated seconds at this moment."""
    baseline = recipes.get("seed")
    run = training.train(baseline.replace(epochs=epochs), data, os.path.join(workdir, f"slice-{index}"), seed=seed)
    seconds = epoch_seconds(run)
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    estimate = seconds[0] + (baseline.epochs - 1) * steady
    print(f"  seed slice {index}: epochs {seconds} s → seed recipe ≈ {estimate:.0f} s", flush=True)
    _release()
    return {"index": index, "epoch_seconds": seconds, "steady_epoch_seconds": steady, "estimate": round(estimate, 1)}


def candidate_run(recipe: recipes.Recipe, seed: int, data, workdir: str) -> dict:
    run = training.train(recipe, data, os.path.join(workdir, f"{recipe.name}-{seed}"), seed=seed)
    seconds = epoch_seconds(run)
    history = run.history()
    elapsed = [row["elapsed_seconds"] for row in history]
    reached = {
        f"{t:.1%}": next((s for s, row in zip(elapsed, history, strict=True) if row.get("val_accuracy", 0) >= t), None)
        for t in VAL_THRESHOLDS
    }
    probs = load_predictor(run.path).predict_proba(data.x_test)
    accuracy = float((probs.argmax(1) == data.y_test).mean())
    print(f"  {recipe.name} seed {seed}: {elapsed[-1]:.0f} s, MNIST test {accuracy:.4%}", flush=True)
    _release()
    return {
        "recipe": recipe.name,
        "seed": seed,
        "epochs": recipe.epochs,
        "train_seconds": elapsed[-1],
        "epoch_seconds": seconds,
        "train_images": run.config()["train_images"],
        "val_accuracy_final": history[-1].get("val_accuracy"),  # None: a recipe with val_fraction 0
        "seconds_to_val_accuracy": reached,
        "test_accuracy": accuracy,
        "probs": probs,
        "config": recipe.to_dict(),
    }


def _release() -> None:
    keras.backend.clear_session()
    gc.collect()


def summarize(runs: list[dict], slices: list[dict], y_test: np.ndarray | None) -> dict:
    for i, run in enumerate(runs):  # run i sits between slices i and i + 1
        if "ratio" in run:  # combined from an earlier sweep: measured against that sweep's slices
            continue
        around = [s["estimate"] for s in slices[i : i + 2]]
        run["seed_estimate"] = round(statistics.mean(around), 1)
        run["ratio"] = round(run["train_seconds"] / run["seed_estimate"], 4)
    summary = {}
    for name in dict.fromkeys(r["recipe"] for r in runs):
        group = [r for r in runs if r["recipe"] == name]
        accs, ratios = [r["test_accuracy"] for r in group], [r["ratio"] for r in group]
        entry = {
            "seeds": [r["seed"] for r in group],
            "test_accuracy_mean": statistics.mean(accs),
            "test_accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "test_accuracies": accs,
            "train_seconds": [r["train_seconds"] for r in group],
            "ratios": ratios,
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
        if len(group) > 1 and y_test is not None:
            mean_probs = np.mean([r["probs"] for r in group], axis=0)
            entry["ensemble_test_accuracy"] = float((mean_probs.argmax(1) == y_test).mean())
        summary[name] = entry
    return summary


def report(summary: dict, slices: list[dict]) -> None:
    steady = [s["steady_epoch_seconds"] for s in slices]
    print(f"\nseed recipe steady epoch: {min(steady):.1f}–{max(steady):.1f} s across {len(slices)} slices")
    for name, e in summary.items():
        ensemble = f"; ensemble {e['ensemble_test_accuracy']:.4%}" if "ensemble_test_accuracy" in e else ""
        print(
            f"{name}: MNIST test {e['test_accuracy_mean']:.4%} ± {e['test_accuracy_std']:.4%} over seeds "
            f"{e['seeds']}{ensemble}; time ÷ seed's: median {e['ratio_median']:.3f} "
            f"(range {e['ratio_min']:.3f}–{e['ratio_max']:.3f}; {', '.join(f'{r:.3f}' for r in e['ratios'])})"
        )


def combine(paths: list[str], name: str, probs_paths: list[str] | None) -> None:
    """Join the runs (and slices) of earlier result files into one report."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    runs = [run for result in results for run in result["runs"]]
    slices = [s for result in results for s in result["seed_slices"]]
    machines = [json.loads(m) for m in dict.fromkeys(json.dumps(r["machine"], sort_keys=True) for r in results)]
    y_test, ensemble_all = None, {}
    if probs_paths:
        saved = {key: npz[key] for path in probs_paths for npz in [np.load(path)] for key in npz.files}
        y_test = load_dataset(data_spec("mnist")).y_test
        for run in runs:
            key = f"{run['recipe']}-{run['seed']}"
            if key not in saved:
                raise SystemExit(f"--with-probs: no probabilities for run {key} in {', '.join(probs_paths)}")
            run["probs"] = saved[key]
        mean_probs = np.mean([run["probs"] for run in runs], axis=0)
        accuracy = float((mean_probs.argmax(1) == y_test).mean())
        ensemble_all = {"ensemble_all": {"runs": len(runs), "test_accuracy": accuracy}}
    summary = summarize(runs, slices, y_test)
    for run in runs:
        run.pop("probs", None)
    write_result(
        name,
        {
            "command": command(),
            # The sweeps' machine(s), not the one that joined them.
            "machine": machines[0] if len(machines) == 1 else machines,
            "combined": [{"command": r["command"], "date": r["date"], "complete": r["complete"]} for r in results],
            "data": results[0]["data"],
            "clock": results[0]["clock"],
            "complete": all(r["complete"] for r in results),
            "summary": summary,
            **ensemble_all,
            "seed_slices": slices,
            "runs": runs,
        },
    )
    report(summary, slices)
    if ensemble_all:
        print(f"all {len(runs)} runs averaged: MNIST test {ensemble_all['ensemble_all']['test_accuracy']:.4%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="fast", help="presets or recipe .json files, comma-separated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--slice-epochs", type=int, default=2, help="epochs per seed-recipe slice (≥ 2)")
    parser.add_argument("--quick", action="store_true", help="fast, seed 0, one-epoch slices (a smoke run)")
    parser.add_argument("--name", default="time_to_accuracy_interleaved", help="results file name")
    parser.add_argument("--keep", metavar="DIR", help="keep the candidate runs (models) here; default: temporary")
    parser.add_argument("--combine", nargs="+", metavar="JSON", help="join earlier result files; trains nothing")
    parser.add_argument("--probs", metavar="NPZ", help="also save each run's MNIST-test probabilities (for ensembles)")
    parser.add_argument("--with-probs", nargs="+", metavar="NPZ", help="with --combine: the runs' saved probabilities")
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.name, args.with_probs)
        return
    names, seeds = args.recipes.split(","), [int(s) for s in args.seeds.split(",")]
    slice_epochs = args.slice_epochs
    if args.quick:
        names, seeds, slice_epochs, args.name = ["fast"], [0], 1, args.name + "_quick"
    plan = [(recipes.get(name), seed) for seed in seeds for name in names]  # seeds outer: recipes alternate

    data = load_dataset(data_spec("mnist"))
    slices: list[dict] = []
    runs: list[dict] = []
    with contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory() as workdir:
        os.makedirs(workdir, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=workdir)  # the seed slices: only their clocks matter
        slices.append(seed_slice(data, 0, slice_epochs, scratch, 0))
        for recipe, seed in plan:
            runs.append(candidate_run(recipe, seed, data, workdir))
            slices.append(seed_slice(data, len(slices), slice_epochs, scratch, len(slices)))
            summary = summarize(runs, slices, data.y_test)
            if args.probs:  # derived from MNIST test: for ensembles across sweeps, not for the repository
                np.savez_compressed(args.probs, **{f"{r['recipe']}-{r['seed']}": r["probs"] for r in runs})
            # Written after every pair, so a long sweep that is cut short still leaves its measurements.
            write_result(
                args.name,
                {
                    "command": command(),
                    "data": "MNIST train (each recipe's val_fraction held out for validation, stratified, split "
                    "seed = run seed: 0.1 → 54,000 / 6,000; 0 → all 60,000, no validation); final model scored "
                    "once on MNIST t10k",
                    "clock": "the runs' own per-epoch elapsed_seconds (fit incl. validation; no start-up, "
                    "checkpoint or calibration); seed recipe ≈ first epoch + 29 × median later epoch of a slice",
                    "complete": len(runs) == len(plan),
                    "summary": summary,
                    "seed_slices": slices,
                    "runs": [{k: v for k, v in r.items() if k != "probs"} for r in runs],
                    "peak_rss_mib": round(peak_rss_mib()),
                },
            )
    report(summary, slices)


if __name__ == "__main__":
    main()
