"""`digitrec train --number-reader`: a small run end to end (lines, epochs, calibration, the ONNX twin the
inference side loads), a killed run resumed at its next epoch, and bad usage refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitrec.cli import main
from digitrec.errors import ConfigError
from digitrec.imaging.line import LINE_HEIGHT
from digitrec.inference.reader import load_reader
from digitrec.training import reader


@pytest.fixture(scope="module")
def small_run(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("reader") / "run"
    data = f"mnist:{shared_data / 'mnist'}"
    assert main(["train", "--number-reader", "--data", data, "--epochs", "1", "--limit", "96", "--out", str(out)]) == 0
    return out


def test_a_small_run_leaves_a_usable_reader(small_run):
    for name in ("config.json", "val_lines.npz", "state.json", "checkpoint.keras", "model.keras", "reader.onnx"):
        assert (small_run / name).is_file(), name
    meta = json.loads((small_run / "reader.json").read_text())
    assert meta["settings"]["lines"] == 96 and meta["validation"]["lines"] == 64
    assert set(meta["validation"]["exact_by_kind"]) <= {
        "spaced",
        "tight",
        "touching",
        "overlapping",
        "ruled",
        "squared",
        "boxed",
        "slanted",
        "long",
    }
    assert meta["onnx_max_difference"] <= 1e-4
    loaded = load_reader(small_run / "reader.onnx")
    (reading,) = loaded.read([np.zeros((LINE_HEIGHT, 64), np.float32)])
    assert 0 <= reading.probability <= 1
    assert reader.is_reader_run(small_run) and not reader.is_reader_run(small_run / "missing")


def test_a_killed_run_resumes_at_its_next_epoch(small_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "epochs": 2}))
    for name in ("model.keras", "reader.onnx", "reader.json"):
        (run / name).unlink()  # killed after epoch 1's commit, before the end
    first = json.loads((run / "state.json").read_text())["history"][0]
    assert main(["train", "--resume", str(run)]) == 0
    history = json.loads((run / "state.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2] and history[0] == first
    assert (run / "reader.onnx").is_file() and (run / "model.keras").is_file()


def test_a_run_being_trained_is_not_trained_twice(small_run, capsys):
    from digitrec.fileio import one_writer

    with one_writer(small_run, "number reader"):
        assert main(["train", "--resume", str(small_run)]) == 1
    assert "another process is training this number reader now" in capsys.readouterr().err


@pytest.mark.parametrize(
    "state", ['{"epochs_done": "1", "history": []}', '{"epochs_done": 9, "history": []}', "[1]", '{"history": 3}']
)
def test_a_damaged_reader_run_is_one_line(small_run, tmp_path, capsys, state):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "state.json").write_text(state)
    assert main(["train", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "state.json: corrupt run state" in err and "delete it" in err
    (run / "config.json").write_text('{"kind": "number-reader"}')
    assert main(["train", "--resume", str(run)]) == 1
    assert "config.json: not a number-reader run config (missing epochs, lines" in capsys.readouterr().err


def test_a_checkpoint_that_is_no_keras_archive_is_one_line(small_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "checkpoint.keras").unlink()
    (run / "checkpoint.keras").symlink_to("/dev/zero")
    assert main(["train", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint.keras" in err and "not a regular file" in err


def test_training_lines_are_fresh_each_epoch_and_the_same_on_resume(shared_data):
    from digitrec.training.reader_lines import LineMaker

    with LineMaker(f"mnist:{shared_data / 'mnist'}", workers=1) as maker:
        one, again, two = (maker.submit(6, 0, epoch, False).result() for epoch in (1, 1, 2))
        val = maker.submit(6, 0, 0, True).result()
    assert one.texts == again.texts and all(np.array_equal(a, b) for a, b in zip(one.images, again.images))
    assert one.texts not in (two.texts, val.texts)
    assert all(set(text) <= set("0123456789") and 1 <= len(text) <= 20 for text in one.texts + val.texts)


def test_bad_usage_is_refused_before_any_work(small_run, tmp_path, capsys):
    assert main(["train", "--number-reader", "--preset", "best", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "--resume", str(small_run), "--epochs", "3"]) == 2
    assert main(["train", "--number-reader", "--out", str(small_run)]) == 1  # not empty
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "digitrec: error: --preset does not apply to --number-reader"
    assert "cannot change it" in err[1] and "not an empty directory" in err[2]
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        reader.start(tmp_path / "y", epochs=0)
    with pytest.raises(ConfigError, match="unknown number-reader settings: batch"):
        reader.start(tmp_path / "z", batch=3)


def test_a_reader_can_start_from_another(small_run, shared_data, tmp_path):
    """`init`: the weights of a trained reader, fine-tuned on fresh lines (a different seed)."""
    import keras

    out = reader.start(
        tmp_path / "tuned",
        epochs=1,
        lines=64,
        seed=1,
        lr=1e-9,
        data=f"mnist:{shared_data / 'mnist'}",
        init=str(small_run / "model.keras"),
    )
    meta = json.loads((out / "reader.json").read_text())
    assert meta["settings"]["init"] == str(small_run / "model.keras")
    start, tuned = (
        keras.models.load_model(small_run / "model.keras", compile=False),
        keras.models.load_model(out / "model.keras", compile=False),
    )
    # at a learning rate of 1e-9 the weights are the ones it started from (batch-norm statistics aside)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(start.trainable_weights, tuned.trainable_weights))
