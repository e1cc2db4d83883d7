"""The seed pipeline end to end through the real CLI on real data: train → evaluate → resume → submit."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from digitrec.cli import main

from helpers import digitrec, train_args

LIMIT = "3000"


@pytest.fixture(scope="module")
def seed_run(shared_data, tmp_path_factory) -> Path:
    """The seed recipe, 1 epoch on the first 3,000 real MNIST training images (10% validation)."""
    run_dir = tmp_path_factory.mktemp("runs") / "seed"
    result = digitrec(*train_args(shared_data, run_dir, limit=LIMIT))
    assert result.returncode == 0, result.stderr
    return run_dir


def test_train_writes_a_complete_run(seed_run):
    config = json.loads((seed_run / "config.json").read_text())
    assert config["recipe"]["name"] == "seed"
    assert config["recipe"]["batch_size"] == 86 and config["recipe"]["epochs"] == 1
    assert config["limit"] == 3000 and config["train_images"] == 2700 and config["val_images"] == 300
    assert config["versions"]["keras"].startswith("3.")
    history = list(csv.DictReader((seed_run / "history.csv").open()))
    assert [int(r["epoch"]) for r in history] == [1]
    assert {"accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"} <= set(history[0])
    assert (seed_run / "model.keras").stat().st_size > 1_000_000
    assert json.loads((seed_run / "state.json").read_text())["epochs_done"] == 1


def test_evaluate_on_mnist_test_is_well_above_chance(seed_run):
    result = digitrec("evaluate", str(seed_run))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((seed_run / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "mnist test set" and metrics["count"] == 10_000
    assert metrics["accuracy"] > 0.6  # 1 epoch on 2,700 images gave 0.83 (seed 0); chance is 0.10
    assert sum(map(sum, metrics["confusion_matrix"])) == 10_000
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    for name in ("curves.png", "confusion.png", "errors.png"):
        assert (seed_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (seed_run / "report.md").read_text()
    assert f"{metrics['accuracy']:.4%}" in report and "confusion.png" in report


@pytest.mark.parametrize(
    "damage, message",
    [
        ("no-model", "config.json: corrupt recipe (bad model)"),
        ("text-val-fraction", "config.json: corrupt recipe (bad val_fraction)"),
        ("history-without-accuracy", "history.csv: history without the column(s) accuracy"),
    ],
)
def test_evaluate_refuses_a_damaged_run_before_writing_anything(seed_run, tmp_path, capsys, damage, message):
    run = tmp_path / "run"
    shutil.copytree(seed_run, run, ignore=shutil.ignore_patterns("metrics.json", "*.png", "report.md"))
    config = json.loads((run / "config.json").read_text())
    if damage == "history-without-accuracy":
        frame = pd.read_csv(run / "history.csv")
        frame.drop(columns=["accuracy"]).to_csv(run / "history.csv", index=False)
    elif damage == "no-model":
        del config["recipe"]["model"]
    else:
        config["recipe"]["val_fraction"] = "0.2"
    (run / "config.json").write_text(json.dumps(config))
    before = sorted(p.name for p in run.iterdir())
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in run.iterdir()) == before


def test_evaluate_on_the_validation_split(seed_run):
    result = digitrec("evaluate", str(seed_run), "--split", "val")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((seed_run / "metrics.json").read_text())
    assert metrics["count"] == 300 and "validation" in metrics["evaluated_on"]


def test_resume_after_sigkill_continues_the_same_run(shared_data, tmp_path):
    run_dir = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "digitrec",
        *train_args(shared_data, run_dir, epochs=3, limit=1500),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    state = run_dir / "state.json"
    while not (state.exists() and json.loads(state.read_text())["epochs_done"] >= 1):
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert done < 3 and not (run_dir / "model.keras").exists()
    config_before = (run_dir / "config.json").read_text()

    result = digitrec("train", "--resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "config.json").read_text() == config_before
    history = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3]
    assert json.loads(state.read_text())["epochs_done"] == 3
    assert (run_dir / "model.keras").exists()
    assert digitrec("train", "--resume", str(run_dir)).returncode == 1  # finished: nothing to resume


def test_submit_on_the_real_kaggle_test_set(seed_run, shared_data, tmp_path):
    out = tmp_path / "submission.csv"
    result = digitrec(
        "submit",
        str(seed_run),
        "--test",
        str(shared_data / "kaggle-digit-recognizer" / "test.csv.gz"),
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines()[0] == "ImageId,Label"
    frame = pd.read_csv(out)
    assert len(frame) == 28_000 and list(frame["ImageId"]) == list(range(1, 28_001))
    assert frame["Label"].between(0, 9).all()
    # Kaggle's test digits are roughly balanced (8.9–11.2% per class in train.csv): even this 1-epoch model
    # (75–87% validation accuracy, depending on the seed) predicts every class 2–25% of the time (measured
    # 3–19%); a broken pipeline (constant or scrambled predictions) would not.
    shares = frame["Label"].value_counts(normalize=True)
    assert len(shares) == 10 and shares.between(0.02, 0.25).all()
    sample = pd.read_csv(shared_data / "kaggle-digit-recognizer" / "sample_submission.csv")
    assert list(frame.columns) == list(sample.columns) and len(frame) == len(sample)


def test_submit_rejects_bad_test_csv_without_writing(seed_run, tmp_path, capsys):
    bad = tmp_path / "test.csv"
    bad.write_text("pixel0,pixel1\n1,2\n")
    out = tmp_path / "submission.csv"
    assert main(["submit", str(seed_run), "--test", str(bad), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "header has 2 columns" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_train_leaves_a_folder_of_the_users_alone(tmp_path):
    """A new run needs a new (or empty) directory: one that starts over clears the run files it finds."""
    (tmp_path / "model.keras").write_bytes(b"the user's own model")
    result = digitrec("train", "--data", "mnist:/nonexistent-dir", "--out", str(tmp_path))
    assert result.returncode == 1 and "exists and is not empty" in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    assert (tmp_path / "model.keras").read_bytes() == b"the user's own model"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", "--data", "mnist:/nonexistent-dir", "--out", "{tmp}/r"], 1, "not a directory"),
        (["train", "--data", "nonsense:x", "--out", "{tmp}/r"], 1, "unknown data source"),
        (["train", "--preset", "nope", "--out", "{tmp}/r"], 2, "neither a preset"),
        (["train", "--preset", "{tmp}/missing.json", "--out", "{tmp}/r"], 1, "cannot read recipe"),
        (["train", "--epochs", "-3", "--out", "{tmp}/r"], 2, "must be at least 1"),
        (["train", "--resume", "{tmp}"], 1, "not a run directory"),
        (["train", "--resume", "{tmp}", "--epochs", "30", "--seed", "1"], 2, "--epochs, --seed cannot change it"),
        (["train", "--devices", "2", "--out", "{tmp}/r"], 2, "--devices goes with --distribute mirrored"),
        (["train", "--distribute", "mirrored", "--devices", "100000", "--out", "{tmp}/r"], 1, "from 1 to 64"),
        (["train", "--ensemble", "2000", "--out", "{tmp}/r"], 2, "--ensemble: must be between 1 and 1000"),
        (["train", "--seed", "-1", "--out", "{tmp}/r"], 2, "must be between 0 and 2^31 - 1"),
        (["evaluate", "{tmp}"], 1, "not a run directory"),
        (["predict", "--workers", "3", "{tmp}/a.png"], 2, "--workers and --address go with --engine ray"),
        (["predict", "--model", "", "{tmp}/a.png"], 2, "--model: empty path"),
        (["submit", "{tmp}", "--test", "{tmp}/t.csv", "--output", ""], 2, "--output: empty path"),
        (["export", "{tmp}", "--opset", "9"], 2, "must be 13–18"),
        (["export", "{tmp}", "--data", "mnist"], 2, "--data gives --int8 its calibration images"),
        (["submit", "{tmp}/none", "--test", "{tmp}/t.csv", "--output", "{tmp}/s.csv"], 1, "no such file"),
    ],
)
def test_bad_input_gets_one_line_and_an_exit_code(args, code, message, tmp_path):
    result = digitrec(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr
    if code == 1 or "usage:" not in result.stderr:  # argparse's own errors print the usage line first
        assert result.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()  # nothing written for a run refused
