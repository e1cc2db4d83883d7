"""Chaos: a real training run killed with SIGKILL at a dozen moments — before its first epoch, in the
middle of a checkpoint write, with a half-written history row and state commit, at random — and resumed
each time; and a disk that fills up mid-run. Every run ends with one history row per epoch, no temporaries, and a model
that loads and predicts."""

from __future__ import annotations

import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digitrec.inference import load_predictor
from digitrec.rundir import Run

from helpers import run_measured, train_args

EPOCHS = 8


def train_cmd(shared_data: Path, run_dir: Path, resume: bool, epochs: int = EPOCHS) -> list[str]:
    if resume:
        return [sys.executable, "-m", "digitrec", "train", "--resume", str(run_dir)]
    return [
        sys.executable,
        "-m",
        "digitrec",
        *train_args(shared_data, run_dir, preset="fast", epochs=epochs, limit=2400),
    ]


def kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL the process group as soon as `ready()` holds; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if ready() or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    return False


def optimizer_steps(run: Run) -> tuple[int, int]:
    """(the optimizer steps the finished model took, the steps of its epochs): equal unless a resumed run
    trained an epoch twice or skipped one."""
    import keras

    config = run.config()
    per_epoch = math.ceil(config["train_images"] / config["recipe"]["batch_size"])
    taken = int(keras.saving.load_model(run.file("model.keras")).optimizer.iterations.numpy())
    return taken, per_epoch * run.state()["epochs_done"]


def check_finished(run: Run, images: np.ndarray, labels: np.ndarray, epochs: int = EPOCHS) -> None:
    assert [int(row["epoch"]) for row in run.history()] == list(range(1, epochs + 1))
    assert run.state()["epochs_done"] == epochs
    assert not [p.name for p in run.path.iterdir() if ".partial" in p.name]
    assert sorted(p.name for p in run.path.glob("checkpoint*")) == [f"checkpoint-{epochs}.keras"]
    taken, expected = optimizer_steps(run)
    assert taken == expected
    accuracy = (load_predictor(run.path).predict_proba(images).argmax(1) == labels).mean()
    assert accuracy > 0.6  # short runs on 2,160 digits (measured 0.88–0.96): learned, not a damaged file


def test_training_survives_sigkill_at_any_moment(shared_data, mnist, tmp_path):
    run = Run(tmp_path / "run")
    rng = random.Random(20261126)
    moments = [
        "before the first epoch",
        "mid-checkpoint",
        "torn history row",
        "mid-checkpoint",
        "before the first epoch",
        *["at random"] * 7,
    ]
    kills = 0
    for moment in moments:
        process = subprocess.Popen(
            train_cmd(shared_data, run.path, resume=run.exists()),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = time.monotonic()
        if moment == "before the first epoch":
            killed = kill_when(process, lambda started=started: run.exists() and time.monotonic() - started > 3)
        elif moment == "mid-checkpoint":
            killed = kill_when(process, lambda: any(run.path.glob(".checkpoint-*.keras.*")))
        else:
            delay = rng.uniform(1.0, 8.0)
            killed = kill_when(process, lambda delay=delay, started=started: time.monotonic() - started > delay)
        kills += killed
        if moment == "torn history row" and run.file("history.csv").exists():
            with run.file("history.csv").open("a") as handle:
                handle.write("9,0.123,0.9")  # what a kill in the middle of appending a row leaves
            (run.path / ".state.json.q1.partial").write_bytes(b'{"epochs_do')  # and in the middle of a commit
        if not killed:
            break  # the run finished before this kill: nothing left to interrupt
    assert kills >= 10
    result = subprocess.run(train_cmd(shared_data, run.path, resume=True), capture_output=True, text=True, timeout=600)
    if result.returncode == 1:  # the last kill may have come after the final model was saved
        assert "already finished" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
    check_finished(run, mnist.x_test[:1000], mnist.y_test[:1000])


def test_a_full_disk_stops_training_in_one_line_and_the_run_resumes(shared_data, mnist, tmp_path):
    run = Run(tmp_path / "run")

    def small_disk() -> None:  # files may not grow past 64 KB: the first checkpoint cannot be written
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = subprocess.run(
        train_cmd(shared_data, run.path, resume=False, epochs=2),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=small_disk,
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert len(errors) == 1 and "disk full" in errors[0] and "Traceback" not in result.stderr, result.stderr
    assert not [p.name for p in run.path.iterdir() if ".partial" in p.name]
    resumed = run_measured(train_cmd(shared_data, run.path, resume=True), timeout=600)
    assert resumed["code"] == 0, resumed["stderr"]
    check_finished(run, mnist.x_test[:1000], mnist.y_test[:1000], epochs=2)
    assert json.loads(run.file("config.json").read_text())["limit"] == 2400


class Killed(BaseException):
    """What a SIGKILL would do at that moment: nothing after it runs."""


def test_a_kill_between_a_checkpoint_and_its_commit_repeats_no_epoch(shared_data, tmp_path, monkeypatch):
    """Killed after epoch 2's checkpoint and history row but before state.json commits them, the run resumes
    from epoch 1's checkpoint: the finished model took exactly two epochs of optimizer steps (when one
    checkpoint file was overwritten in place, the resumed run trained epoch 2 on top of itself: three)."""
    import digitrec
    from digitrec.cli import main as cli_main

    run = Run(tmp_path / "run")
    commit = Run.write_state

    def killed_at_the_second_commit(self: Run, state: dict) -> None:
        if state["epochs_done"] == 2:
            raise Killed
        commit(self, state)

    with monkeypatch.context() as patched:
        patched.setattr(Run, "write_state", killed_at_the_second_commit)
        with pytest.raises(Killed):
            digitrec.train("fast", data=f"mnist:{shared_data / 'mnist'}", out=run.path, epochs=3, limit=600, verbose=0)
    assert sorted(p.name for p in run.path.glob("checkpoint*")) == ["checkpoint-1.keras", "checkpoint-2.keras"]
    assert run.state()["epochs_done"] == 1 and len(run.history()) == 2  # epoch 2's row, not committed
    assert cli_main(["train", "--resume", str(run.path)]) == 0
    assert [int(row["epoch"]) for row in run.history()] == [1, 2, 3]
    taken, expected = optimizer_steps(run)
    assert taken == expected
