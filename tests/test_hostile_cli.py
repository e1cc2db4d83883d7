"""The hostile-input corpus, through the real CLI in a subprocess under an address-space cap and a time cap:
every case ends in at most 30 s with exit 1 (2 for usage), exactly one line on stderr, no traceback, no
output file left behind, and a peak RSS of at most 1 GiB (commands that start TensorFlow: what a healthy
TensorFlow run of the same CLI peaks at on this machine, plus 256 MiB). In `predict`, one bad file never stops the
others: the good image beside it is still answered."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from digitrec import bundled
from digitrec.rundir import Run
from digitrec.training import recipes

import hostile
from helpers import run_measured
from renderings import black_on_white_png

TIME_CAP = 30.0
PEAK_CAP_MIB = 1024


def digitrec_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "digitrec", *map(str, args)]


def check_one_line(result: dict, code: int, phrase: str, peak_cap: float = PEAK_CAP_MIB) -> None:
    err = result["stderr"]
    assert not result["timed_out"] and result["seconds"] <= TIME_CAP, result
    assert result["code"] == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("digitrec: error:")]
    assert len(lines) == 1 and err.count("\n") == 1, err
    assert phrase.lower() in err.lower(), err
    assert result["peak_mib"] <= peak_cap, (result["peak_mib"], peak_cap)


@pytest.fixture(scope="module")
def tensorflow_cap(tmp_path_factory, mnist) -> float:
    """TensorFlow and Keras alone peak near 1 GiB, more on machines with more cores (thread pools): the cap for
    a command that starts them is relative to a healthy run of the CLI that loads a Keras model."""
    image = hostile.write(tmp_path_factory.mktemp("healthy"), "good.png", black_on_white_png(mnist.x_test[0], None))
    healthy = run_measured(digitrec_cmd("predict", "--model", bundled.KERAS, image), timeout=60)
    assert healthy["code"] == 0, healthy["stderr"]
    return max(PEAK_CAP_MIB, healthy["peak_mib"] + 256)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, mnist) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    files = {
        "good.png": black_on_white_png(mnist.x_test[0], np.random.default_rng(0)),
        "strip.png": hostile.png_strip(),
        "large-blank.png": hostile.png_large_blank(),
        "huge.jpg": hostile.jpeg_huge(),
        "scans.jpg": hostile.jpeg_many_scans(),
        "bomb.idx.gz": hostile.idx_gzip_bomb(1.0),
        "many-rows.csv.gz": hostile.csv_gz_rows(),
        "wide.csv": hostile.csv_wide_header(),
        "dims.idx": hostile.idx_many_dims(),
        "lying.idx": hostile.idx_lying_header(),
        "text.png": b"this is not an image\n" * 10,
        "empty.png": b"",
    }
    paths = {name: hostile.write(folder, name, data) for name, data in files.items()}
    os.mkfifo(folder / "fifo.png")
    paths["fifo.png"] = folder / "fifo.png"
    return paths


PREDICT_CASES = {
    # file → phrase of its one error line
    "strip.png": "cannot hold a digit",
    "large-blank.png": "no ink",
    "huge.jpg": "no ink",
    "scans.jpg": "too costly to decode",
    "bomb.idx.gz": "decompression bomb",
    "many-rows.csv.gz": "decompression bomb",
    "wide.csv": "header line is longer",
    "dims.idx": "255 dimensions",
    "lying.idx": "but the file has 24 bytes",
    "text.png": "not an image",
    "empty.png": "empty",
    "fifo.png": "not a regular file",
}


@pytest.mark.parametrize("name", sorted(PREDICT_CASES))
def test_predict_answers_the_good_file_and_refuses_the_hostile_one_in_one_line(corpus, name):
    result = run_measured(digitrec_cmd("predict", "--json", corpus[name], corpus["good.png"]), timeout=TIME_CAP + 30)
    check_one_line(result, 1, PREDICT_CASES[name])
    answers = [json.loads(line) for line in result["stdout"].splitlines()]
    # The good image is answered. A file read as a stream may have answered its first chunks before its
    # failure showed (the gzip bomb of valid rows: its first 1,024 rows), never more than a few chunks.
    assert next(a for a in answers if a["file"] == str(corpus["good.png"]))["digit"] == 7
    assert len(answers) - 1 <= 4 * 4096 and {a["file"] for a in answers} <= {str(corpus["good.png"]), str(corpus[name])}


def test_predict_refuses_dev_zero(tmp_path):
    check_one_line(run_measured(digitrec_cmd("predict", "/dev/zero"), timeout=TIME_CAP), 1, "not a regular file")


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, Path]:
    import keras

    folder = tmp_path_factory.mktemp("models")
    shapes = {
        "wrong-input.keras": keras.Sequential(
            [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
        ),
        "no-softmax.keras": keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
        ),
        "five-classes.keras": keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")]
        ),
    }
    for name, model in shapes.items():
        model.save(folder / name)
    (folder / "garbage.keras").write_bytes(b"PK\x03\x04" + os.urandom(500))
    (folder / "config-bomb.keras").write_bytes(hostile.keras_config_bomb())
    return {name: folder / name for name in [*shapes, "garbage.keras", "config-bomb.keras"]}


@pytest.mark.parametrize(
    "name, phrase",
    [
        ("wrong-input.keras", "(n, 28, 28, 1)"),
        ("five-classes.keras", "(n, 10)"),
        ("no-softmax.keras", "not probabilities"),
        ("garbage.keras", "not a .keras archive (a zip)"),
        ("config-bomb.keras", "not a usable .keras archive"),
    ],
)
def test_predict_with_a_bad_model_is_one_line(bad_models, corpus, tensorflow_cap, name, phrase):
    result = run_measured(digitrec_cmd("predict", "--model", bad_models[name], corpus["good.png"]), timeout=60)
    check_one_line(result, 1, phrase, tensorflow_cap)
    assert result["stdout"] == ""


@pytest.fixture(scope="module")
def run_template(tmp_path_factory, shared_data) -> dict:
    """A config.json as `train` writes it (seed recipe, 300 real MNIST images), without training."""
    folder = tmp_path_factory.mktemp("template")
    recipe = recipes.get("seed").replace(epochs=2)
    return {
        "recipe": recipe.to_dict(),
        "data": f"mnist:{shared_data / 'mnist'}",
        "seed": 0,
        "split_seed": 0,
        "limit": 300,
        "train_images": 270,
        "val_images": 30,
        "folder": folder,
    }


def make_run(template: dict, name: str, **files: str) -> Path:
    run = Run(template["folder"] / name)
    run.write_config({k: v for k, v in template.items() if k != "folder"})
    for filename, content in files.items():
        (run.path / filename.replace("_", ".", 1)).write_text(content)
    return run.path


def test_resume_with_damaged_run_files_is_one_line(run_template, tensorflow_cap):
    committed = {"epochs_done": 1, "checkpoint": "checkpoint-1.keras", "elapsed_seconds": 3.0}
    one_epoch = "epoch,loss,accuracy\n1,0.5,0.9\n"
    states = {  # run name → (state.json, phrase of the one error line)
        "bad-state": ("{half", "corrupt"),
        "checkpoint-elsewhere": (json.dumps({**committed, "checkpoint": "/etc/passwd"}), "corrupt run state"),
        "bad-annealer": (json.dumps({**committed, "annealer": [1]}), "annealer"),
        "annealer-of-strings": (
            json.dumps({**committed, "annealer": {"wait": "1", "best": 0.9, "cooldown_counter": 0}}),
            "annealer",
        ),
        "past-the-end": (
            json.dumps({**committed, "epochs_done": 5, "checkpoint": "checkpoint-5.keras"}),
            "state.json: says 5 epochs are done, but the recipe has 2",
        ),
    }
    cases = {
        make_run(run_template, name, state_json=state, history_csv=one_epoch): phrase
        for name, (state, phrase) in states.items()
    }
    no_history = make_run(run_template, "no-history", state_json=json.dumps(committed))
    cases[no_history] = "history.csv: is missing or empty, but state.json says 1 are done"
    damaged = make_run(run_template, "bad-checkpoint", state_json=json.dumps(committed), history_csv=one_epoch)
    (damaged / "checkpoint-1.keras").write_text("not a zip")
    cases[damaged] = "checkpoint-1.keras: not a .keras archive (a zip)"
    fifo = make_run(run_template, "fifo-checkpoint", state_json=json.dumps(committed), history_csv=one_epoch)
    os.mkfifo(fifo / "checkpoint-1.keras")
    cases[fifo] = "checkpoint-1.keras: not a regular file"
    finished = make_run(run_template, "finished-model", state_json=json.dumps(committed), history_csv=one_epoch)
    shutil.copy(bundled.KERAS, finished / "checkpoint-1.keras")  # a finished model, saved without training state
    cases[finished] = "not a checkpoint (a model saved without its training state)"
    broken_config = make_run(run_template, "bad-config")
    (broken_config / "config.json").write_text('{"recipe": {"name": "seed"')
    cases[broken_config] = "corrupt"
    infinite_rate = make_run(run_template, "infinite-rate")
    config = json.loads((infinite_rate / "config.json").read_text())
    config["recipe"]["learning_rate"] = float("inf")  # json writes Infinity, which Python reads back
    (infinite_rate / "config.json").write_text(json.dumps(config))
    cases[infinite_rate] = "infinite-rate/config.json: learning_rate must be a number in"
    for run_dir, phrase in cases.items():
        result = run_measured(digitrec_cmd("train", "--resume", run_dir), timeout=TIME_CAP)
        check_one_line(result, 1, phrase, tensorflow_cap)


@pytest.mark.parametrize(
    "recipe, phrase",
    [
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"model_args": {"widths": "wide"}}, "argument"),
        ({"model_args": {"dropout": 5}}, "dropout"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
    ],
)
def test_bad_recipe_files_are_one_line(tmp_path, shared_data, tensorflow_cap, recipe, phrase):
    data = {**recipes.get("fast").to_dict(), **recipe}
    if "model_args" in recipe and "widths" in recipe["model_args"]:
        data["model"] = "seed"  # seed takes no arguments at all
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(data))  # NaN is written as NaN, which Python's json reads back
    result = run_measured(
        digitrec_cmd(
            "train",
            "--preset",
            path,
            "--data",
            f"mnist:{shared_data / 'mnist'}",
            "--limit",
            "300",
            "--epochs",
            "1",
            "--out",
            tmp_path / "run",
        ),
        timeout=60,
    )
    check_one_line(result, 1, phrase, tensorflow_cap)
    assert not (tmp_path / "run").exists()  # no run directory left behind to block the same --out


def test_an_ensemble_the_model_builder_refuses_leaves_no_run_behind(tmp_path, shared_data):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({**recipes.get("fast").to_dict(), "model_args": {"bn_momentum": 1.5}}))
    result = run_measured(
        digitrec_cmd(
            *("train", "--preset", path, "--data", f"mnist:{shared_data / 'mnist'}", "--limit", "300"),
            *("--epochs", "1", "--ensemble", "2", "--out", tmp_path / "run"),
        ),
        timeout=60,
    )
    assert result["code"] == 1 and "Traceback" not in result["stderr"]
    assert result["stderr"].splitlines()[-1] == "digitrec: error: bn_momentum must be in (0, 1), got 1.5"
    assert not (tmp_path / "run").exists()  # neither the ensemble's config nor its first member's


def unwritable(tmp_path: Path) -> Path:
    """A directory that cannot be written to, even by root."""
    if os.geteuid() == 0:
        return Path("/proc/digitrec-cannot-write-here")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return folder


def test_training_and_submission_mistakes_are_one_line(tmp_path, shared_data, corpus, tensorflow_cap):
    mnist = f"mnist:{shared_data / 'mnist'}"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    kaggle_test = shared_data / "kaggle-digit-recognizer" / "test.csv.gz"
    cases = [
        (["train", "--data", mnist, "--limit", "5", "--epochs", "1", "--out", tmp_path / "tiny"], "too few"),
        (["train", "--data", mnist, "--limit", "300", "--epochs", "1", "--out", a_file], "not a directory"),
        (
            ["train", "--data", mnist, "--limit", "300", "--epochs", "1", "--out", unwritable(tmp_path) / "run"],
            "cannot write",
        ),
        (["submit", "no-such-run", "--test", kaggle_test, "--output", tmp_path], "no such"),
        (["submit", bundled.KERAS, "--test", corpus["wide.csv"], "--output", tmp_path / "s.csv"], "header"),
        (["evaluate", corpus["good.png"]], "not a run directory"),
        (["export", tmp_path / "nothing-here"], "no such"),
    ]
    for argv, phrase in cases:
        check_one_line(run_measured(digitrec_cmd(*argv), timeout=TIME_CAP), 1, phrase, tensorflow_cap)
    assert not (tmp_path / "tiny").exists() and not (tmp_path / "s.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] + (["read-only"] if os.geteuid() else [])


def test_submit_to_a_directory_writes_nothing(tmp_path):
    test_csv = tmp_path / "test.csv"
    test_csv.write_text(hostile.PIXEL_HEADER + "\n" + ",".join(["0"] * 784) + "\n")
    result = run_measured(
        digitrec_cmd("submit", bundled.ONNX, "--test", test_csv, "--output", tmp_path), timeout=TIME_CAP
    )
    check_one_line(result, 1, "is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv"]
