"""Evaluate a run: metrics (scikit-learn), figures and a markdown report written into the run directory."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, log_loss

from digitrec.data import prepare
from digitrec.data.sources import Dataset, load_dataset
from digitrec.errors import DataError
from digitrec.evaluation import plots
from digitrec.fileio import write_json, write_text
from digitrec.inference import load_predictor
from digitrec.rundir import CONFUSION, CURVES, ERRORS, METRICS, REPORT, Run

log = logging.getLogger(__name__)


def evaluation_set(run: Run, data: Dataset | None, which: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Pick the images to score: the labelled test set (MNIST t10k) or the run's own validation split.

    `auto` prefers a labelled test set. A validation split is rebuilt exactly from config.json, so it only
    makes sense with the data the run was trained on.
    """
    config = run.config()
    if which not in ("auto", "test", "val"):
        raise DataError(f"unknown split {which!r}: use auto, test or val")
    if data is None:
        data = load_dataset(config["data"], with_test=True)
    if which in ("auto", "test") and data.x_test is not None and data.y_test is not None:
        return f"{data.spec.kind} test set", data.x_test, data.y_test
    if which == "test":
        raise DataError(f"{data.spec}: no labelled test set (Kaggle's test.csv has no labels); use --split val")
    val_fraction = run.recipe()["val_fraction"]
    _, x_val, _, y_val = prepare.split(data.x_train, data.y_train, val_fraction, config["split_seed"], config["limit"])
    if len(x_val) == 0:
        raise DataError(f"{run.path}: the run has no validation split and the data has no labelled test set")
    return f"{data.spec.kind} validation split ({val_fraction:.0%})", x_val, y_val


def compute_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    predicted = probs.argmax(axis=1)
    report = classification_report(labels, predicted, labels=list(range(10)), output_dict=True, zero_division=0)
    return {
        "count": len(labels),
        "accuracy": float((predicted == labels).mean()),
        "errors": int((predicted != labels).sum()),
        "loss": float(log_loss(labels, np.clip(probs, 1e-7, 1.0), labels=list(range(10)))),
        "per_class": {
            str(d): {k: float(report[str(d)][k]) for k in ("precision", "recall", "f1-score", "support")}
            for d in range(10)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=list(range(10))).tolist(),
    }


def answers_sha256(probabilities: np.ndarray) -> str:
    """A fingerprint of a model's answers (the argmax of each row), to pin them across code changes."""
    return hashlib.sha256(np.asarray(probabilities).argmax(axis=1).astype(np.uint8).tobytes()).hexdigest()


def evaluate_run(
    run_dir: str | os.PathLike, data: Dataset | None = None, split: str = "auto", tta: bool = False
) -> dict:
    """Score a run on `split` (auto: the labelled test set if the data has one, else the run's validation
    split) and write metrics.json, the three figures and report.md into it. Returns the metrics."""
    run = Run(run_dir)
    run.recipe()  # everything the report reads is checked before a file is written
    runs = {member.path.name: member.history() for member in run.members()}
    name, images, labels = evaluation_set(run, data, split)
    log.info("evaluating %s on the %s (%d images)%s", run.path, name, len(images), " with TTA" if tta else "")
    probs = load_predictor(run.path).predict_proba(images, tta=tta)
    metrics = {"evaluated_on": name, "tta": tta, **compute_metrics(labels, probs)}
    write_json(run.file(METRICS), metrics)
    plots.learning_curves(runs, run.file(CURVES))
    plots.confusion(
        np.array(metrics["confusion_matrix"]),
        run.file(CONFUSION),
        f"Confusion matrix — {name} (accuracy {metrics['accuracy']:.2%})",
    )
    plots.worst_errors(images, labels, probs, run.file(ERRORS))
    write_text(run.file(REPORT), render_report(run, metrics, runs))
    return metrics


def render_report(run: Run, metrics: dict, runs: dict[str, list[dict]]) -> str:
    config = run.config()
    recipe = run.recipe()
    lines = [
        f"# digitrec run `{run.path.name}`",
        "",
        f"- recipe **{recipe['name']}** (model `{recipe['model']}`, {recipe['epochs']} epochs, batch "
        f"{recipe['batch_size']}, {recipe['optimizer']} lr {recipe['learning_rate']}, schedule {recipe['schedule']})",
        f"- data `{Path(str(config['data'])).name if ':' in str(config['data']) else config['data']}`, seed "
        f"{config['seed']}, {config['train_images']} training / {config['val_images']} validation images"
        + (f", ensemble of {config['ensemble']}" if config.get("ensemble") else ""),
        "",
        f"## Evaluated on the {metrics['evaluated_on']}{' with TTA' if metrics['tta'] else ''}",
        "",
        f"**Accuracy {metrics['accuracy']:.4%}** ({metrics['errors']} errors in {metrics['count']}), "
        f"log loss {metrics['loss']:.4f}.",
        "",
        "| digit | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *(
            f"| {d} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1-score']:.4f} | {int(m['support'])} |"
            for d, m in metrics["per_class"].items()
        ),
        "",
        "## Training",
        "",
    ]
    for label, rows in runs.items():
        if rows:
            last = rows[-1]
            lines.append(
                f"- {label}: {int(last['epoch'])} epochs in {last['elapsed_seconds'] / 60:.1f} min; final "
                f"train accuracy {last['accuracy']:.4%}"
                + (f", validation accuracy {last['val_accuracy']:.4%}" if "val_accuracy" in last else "")
            )
    lines += [
        "",
        f"![learning curves]({CURVES})",
        "",
        f"![confusion matrix]({CONFUSION})",
        "",
        f"![worst errors]({ERRORS})",
        "",
    ]
    return "\n".join(lines)
