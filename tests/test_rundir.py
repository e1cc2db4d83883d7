"""The run-directory format: config, state and history read and written, torn and corrupt files, members,
model files and export paths."""

from __future__ import annotations

import json
import os

import pytest

from digitrec.errors import ConfigError, ModelError, StorageError
from digitrec.fileio import atomic_path, clean_partials
from digitrec.rundir import (
    CONFIG,
    HISTORY,
    MODEL,
    STATE,
    Run,
    export_path,
    metadata_path,
    model_files,
)
from digitrec.training.plan import check_out

CONFIG_DATA = {"recipe": {"name": "seed"}, "data": "mnist", "seed": 3, "split_seed": 3, "limit": None}


def row(epoch: int, loss: float = 0.5) -> dict:
    return {"epoch": epoch, "loss": loss, "accuracy": 0.9, "elapsed_seconds": 1.5 * epoch}


def test_config_round_trip_and_errors(tmp_path):
    run = Run(tmp_path / "run")
    assert not run.exists()
    with pytest.raises(ModelError, match="not a run directory"):
        run.config()
    run.write_config(CONFIG_DATA)
    assert run.exists() and run.config() == CONFIG_DATA
    (run.path / CONFIG).write_text("{truncated")
    with pytest.raises(ModelError, match="corrupt"):
        run.config()
    (run.path / CONFIG).write_text('{"recipe": {}}')
    with pytest.raises(ModelError, match="missing data, seed, split_seed, limit"):
        run.config()
    (run.path / CONFIG).write_text("[1]")
    with pytest.raises(ModelError, match="not a JSON object"):
        run.config()
    for bad, named in (
        ({"seed": "3"}, "seed"),
        ({"seed": -1, "split_seed": 2**31}, "seed, split_seed"),
        ({"data": 7, "limit": 0}, "data, limit"),
        ({"recipe": "seed", "limit": True}, "recipe, limit"),
    ):
        run.write_config({**CONFIG_DATA, **bad})
        with pytest.raises(ModelError, match=f"corrupt run config \\(bad {named}\\)"):
            run.config()


def test_a_huge_config_is_refused_without_reading_it(tmp_path):
    run = Run(tmp_path)
    with open(tmp_path / CONFIG, "wb") as handle:
        handle.truncate(2 << 20)  # sparse: 2 MiB of zeros
    with pytest.raises(ModelError, match="more than the 1,048,576 allowed"):
        run.config()


def test_a_deeply_nested_state_is_corrupt_not_a_crash(tmp_path):
    (tmp_path / STATE).write_text("[" * 200_000 + "]" * 200_000)  # 400 KB, within the size cap
    with pytest.raises(ModelError, match="corrupt run file \\(nested too deeply\\)"):
        Run(tmp_path).state()


def test_state_before_and_after_the_first_epoch(tmp_path):
    run = Run(tmp_path)
    assert run.state() is None
    run.write_state({"epochs_done": 2, "checkpoint": "checkpoint-2.keras", "elapsed_seconds": 12.5})
    assert run.checkpoint(run.state()) == tmp_path / "checkpoint-2.keras"
    for bad in (
        {"epochs_done": 2, "checkpoint": "checkpoint-1.keras", "elapsed_seconds": 1.0},  # another epoch's
        {"epochs_done": 2, "checkpoint": "../../elsewhere.keras", "elapsed_seconds": 1.0},
        {"epochs_done": 2, "checkpoint": ["checkpoint-2.keras"], "elapsed_seconds": 1.0},
        {"epochs_done": 2, "elapsed_seconds": 1.0},  # no checkpoint named
        {"epochs_done": 0, "elapsed_seconds": 1.0},
        {"epochs_done": "2", "elapsed_seconds": 1.0},
        {"epochs_done": 2, "elapsed_seconds": float("nan")},
        {"elapsed_seconds": 1.0},
    ):
        (tmp_path / STATE).write_text(json.dumps(bad))
        with pytest.raises(ModelError, match="corrupt run state"):
            run.state()


def test_history_appends_reads_and_trims(tmp_path):
    run = Run(tmp_path)
    assert run.history() == []
    for epoch in (1, 2, 3):
        run.append_history(row(epoch, loss=1.0 / epoch))
    lines = (tmp_path / HISTORY).read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,elapsed_seconds" and len(lines) == 4
    assert [r["epoch"] for r in run.history()] == [1.0, 2.0, 3.0]
    assert run.history()[1]["loss"] == 0.5
    run.trim_history(2)
    assert [r["epoch"] for r in run.history()] == [1.0, 2.0]
    assert (tmp_path / HISTORY).read_text().splitlines()[2].startswith("2,")  # epochs stay integers


@pytest.mark.parametrize("torn", ["3,0.3", "3,0.3,0.9,4.5,extra", "3,0.3,zz,4.5", "3,0.3,0.9,4.5", ""])
def test_a_torn_last_history_row_is_tolerated_and_trimmed(tmp_path, torn):
    run = Run(tmp_path)
    run.append_history(row(1))
    run.append_history(row(2))
    with (tmp_path / HISTORY).open("a") as handle:
        handle.write(torn)  # a kill in the middle of writing epoch 3's row
    assert [r["epoch"] for r in run.history()][:2] == [1.0, 2.0]
    run.trim_history(2)
    assert [r["epoch"] for r in run.history()] == [1.0, 2.0]


def test_a_history_field_past_the_csv_limit_is_one_error(tmp_path):
    (tmp_path / HISTORY).write_text("epoch,loss\n1," + "0" * 200_000 + "\n2,0.5\n")  # zeros a crash left
    with pytest.raises(ModelError, match="unreadable history"):
        Run(tmp_path).history()


def test_a_corrupt_row_before_the_last_is_an_error(tmp_path):
    (tmp_path / HISTORY).write_text("epoch,loss\n1,0.5\n2,bad\n3,0.2\n")
    with pytest.raises(ModelError, match="corrupt history at data row 2"):
        Run(tmp_path).history()


def test_reset_keeps_only_the_config(tmp_path):
    run = Run(tmp_path)
    run.write_config(CONFIG_DATA)
    for name in (
        STATE,
        HISTORY,
        "checkpoint-1.keras",
        "checkpoint-3.keras",
        MODEL,
        ".checkpoint-4.keras.abc.partial.keras",
    ):
        (tmp_path / name).write_text("x")
    run.reset()
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG]


def test_only_the_named_checkpoint_is_kept(tmp_path):
    names = [
        "checkpoint-01.keras",
        "checkpoint-1.keras",
        "checkpoint-2.keras",
        "checkpoint-10.keras",
        "checkpoint-notes.txt",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    Run(tmp_path).drop_checkpoints(keep="checkpoint-2.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-01.keras",
        "checkpoint-2.keras",
        "checkpoint-notes.txt",
    ]


def test_members_of_an_ensemble_and_of_a_single_run(tmp_path):
    single = Run(tmp_path / "one")
    single.write_config(CONFIG_DATA)
    assert [m.path for m in single.members()] == [single.path]
    ensemble = Run(tmp_path / "three")
    ensemble.write_config({**CONFIG_DATA, "ensemble": 3})
    assert [m.path.name for m in ensemble.members()] == ["member-1", "member-2", "member-3"]
    for size in ("many", True, 0, 1001, 2.0):  # `true` was one member: a bool is an int to isinstance
        ensemble.write_config({**CONFIG_DATA, "ensemble": size})
        with pytest.raises(ModelError, match=f"bad ensemble size {size!r}"):
            ensemble.members()


def test_model_files_of_a_file_a_run_and_an_ensemble(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"k")
    assert model_files(tmp_path / "m.keras") == [tmp_path / "m.keras"]
    (tmp_path / "run").mkdir()
    with pytest.raises(ModelError, match="is the run finished"):
        model_files(tmp_path / "run")
    (tmp_path / "run" / MODEL).write_bytes(b"k")
    assert model_files(tmp_path / "run") == [tmp_path / "run" / MODEL]
    for index in range(10, 0, -1):
        (tmp_path / "ens" / f"member-{index}").mkdir(parents=True)
        (tmp_path / "ens" / f"member-{index}" / MODEL).write_bytes(b"k")
    assert [p.parent.name for p in model_files(tmp_path / "ens")] == [f"member-{i}" for i in range(1, 11)]
    single = Run(tmp_path / "single")
    single.write_config(CONFIG_DATA)
    with pytest.raises(ModelError, match=r"single: not finished \(no model.keras yet\): resume it"):
        model_files(single.path)
    killed = Run(tmp_path / "killed")  # an ensemble run of 3 killed while training its third member
    killed.write_config({**CONFIG_DATA, "ensemble": 3})
    for member in killed.members()[:2]:
        member.path.mkdir()
        member.file(MODEL).write_bytes(b"k")
    with pytest.raises(ModelError, match=r"not finished \(member-3 of 3 without a model.keras\): resume it"):
        model_files(killed.path)
    killed.member(2).path.mkdir()
    killed.member(2).file(MODEL).write_bytes(b"k")
    assert [p.parent.name for p in model_files(killed.path)] == ["member-1", "member-2", "member-3"]
    with pytest.raises(ModelError, match="no such model file or run directory"):
        model_files(tmp_path / "absent")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ModelError, match="not a regular file"):
        model_files(tmp_path / "fifo")


def ensemble_of(folder, *members: str):
    for name in members:
        (folder / name).mkdir(parents=True)
        (folder / name / MODEL).write_bytes(b"k")
    return folder


@pytest.mark.parametrize(
    ("members", "found"),
    [
        (("member-1", "member-2", "member-01"), "member-01, member-1, member-2"),
        (("member-1", "member-2", "member-old"), "member-1, member-2, member-old"),
        (("member-1", "member-2", "member-2.bak"), "member-1, member-2, member-2.bak"),
        (("member-1", "member-3"), "member-1, member-3"),  # a gap
        (("member-0", "member-1"), "member-0, member-1"),
        (("member-2", "member-3", "member-4", "member-5"), "member-2, member-3, member-4 …"),
    ],
)
def test_members_without_a_config_are_exactly_member_1_to_k(tmp_path, members, found):
    """Without config.json every member-*/model.keras was averaged in: a renamed or copied member too."""
    with pytest.raises(ModelError, match=r"ensemble members must be member-1 … member-\d+, without gaps") as error:
        model_files(ensemble_of(tmp_path / "ens", *members))
    assert f"; found {found}" in str(error.value)


def test_an_unfinished_member_of_an_ensemble_without_a_config_is_named(tmp_path):
    ensemble = ensemble_of(tmp_path / "ens", "member-1")
    (ensemble / "member-2").mkdir()
    with pytest.raises(ModelError, match=r"ens: not finished \(member-2 of 2 without a model.keras\)"):
        model_files(ensemble)
    (ensemble / "member-2" / MODEL).write_bytes(b"k")
    assert [p.parent.name for p in model_files(ensemble)] == ["member-1", "member-2"]
    (ensemble / "member-notes.txt").write_text("a file, not a member folder")
    assert len(model_files(ensemble)) == 2


def test_an_empty_model_path_is_not_the_current_directory(tmp_path, monkeypatch):
    ensemble_of(tmp_path, "member-1")
    monkeypatch.chdir(tmp_path)
    assert len(model_files(".")) == 1
    with pytest.raises(ModelError, match="the model path is empty"):
        model_files("")


def test_export_paths(tmp_path):
    (tmp_path / "run").mkdir()
    assert export_path(tmp_path / "run", "onnx") == tmp_path / "run" / "model.onnx"
    assert export_path(tmp_path / "run", "onnx", int8=True) == tmp_path / "run" / "model.int8.onnx"
    assert export_path(tmp_path / "run", "savedmodel") == tmp_path / "run" / "model_savedmodel"
    assert export_path(tmp_path / "digits.keras", "onnx") == tmp_path / "digits.onnx"
    assert metadata_path(tmp_path / "digits.int8.onnx") == tmp_path / "digits.int8.onnx.json"


def test_atomic_writes_leave_the_old_file_on_failure_and_clean_up(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(tmp_path / "dir", directory=True) as tmp:
        (tmp / "a").write_text("1")
    with (
        pytest.raises(StorageError, match="dir: a directory holding other files; it is not replaced"),
        atomic_path(tmp_path / "dir", directory=True) as tmp,
    ):
        (tmp / "b").write_text("2")  # a directory is replaced only when its writer recognises it…
    with atomic_path(tmp_path / "dir", directory=True, replaceable=lambda d: (d / "a").is_file()) as tmp:
        (tmp / "b").write_text("2")  # …as here
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["b"]
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StorageError, match="fifo: not a regular file"), atomic_path(tmp_path / "fifo") as tmp:
        tmp.write_text("never")
    (tmp_path / "fifo").unlink()
    with (
        pytest.raises(StorageError, match="dir: is a directory; it is not replaced by a file"),
        atomic_path(tmp_path / "dir") as tmp,
    ):
        tmp.write_text("a file where a directory is")
    with (
        pytest.raises(StorageError, match="out.txt: is a file; it is not replaced by a directory"),
        atomic_path(target, directory=True),
    ):
        pass
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["b"] and target.read_text() == "old"
    (tmp_path / ".model.keras.x1y2.partial.keras").write_bytes(b"stale")
    assert [p.name for p in clean_partials(tmp_path)] == [".model.keras.x1y2.partial.keras"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out.txt"]


def test_a_new_run_may_start_where_a_killed_one_left_only_its_config_temporary(tmp_path):
    """A kill while config.json was written leaves `.config.json.*.partial` alone in the directory: --resume
    finds no run there, so --out must accept it (and clear the temporary); any other file still refuses."""
    (tmp_path / ".config.json.k2j3.partial").write_text('{"recipe": {"na')
    check_out(tmp_path)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "notes.txt").write_text("the user's")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        check_out(tmp_path)


def test_atomic_writes_to_long_names_and_below_files(tmp_path):
    long_name = tmp_path / ("s" * 240 + ".csv")  # the temporary's name used to pass the 255-byte limit
    with atomic_path(long_name) as tmp:
        tmp.write_text("ok")
    assert long_name.read_text() == "ok"
    (tmp_path / "ok.csv").write_text("a file")
    with pytest.raises(StorageError, match="ok.csv is a file, not a directory"), atomic_path(tmp_path / "ok.csv/x.csv"):
        pass


def test_an_atomic_write_through_a_link_replaces_the_file_it_names(tmp_path):
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("real.csv")
    with atomic_path(tmp_path / "link.csv") as tmp:
        tmp.write_text("new")
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text() == "new"
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-fifo").symlink_to("fifo")
    with pytest.raises(StorageError, match="fifo: not a regular file"), atomic_path(tmp_path / "to-fifo"):
        pass


def test_the_recorded_recipe_is_checked_where_the_run_format_reads_it(tmp_path):
    run = Run(tmp_path)
    recipe = {
        "name": "fast",
        "model": "deotte",
        "epochs": 9,
        "batch_size": 128,
        "optimizer": "adam",
        "learning_rate": 0.003,
        "schedule": "onecycle",
        "val_fraction": 0.1,
    }
    run.write_config({**CONFIG_DATA, "recipe": recipe})
    assert run.recipe() == recipe
    for key, bad in (
        ("epochs", 0),
        ("epochs", 2.0),
        ("val_fraction", 1.0),
        ("learning_rate", float("nan")),
        ("name", 3),
    ):
        run.write_config({**CONFIG_DATA, "recipe": {**recipe, key: bad}})
        with pytest.raises(ModelError, match=rf"config\.json: corrupt recipe \(bad {key}\)"):
            run.recipe()
    run.write_config({**CONFIG_DATA, "recipe": {k: v for k, v in recipe.items() if k != "model"}})
    with pytest.raises(ModelError, match="bad model"):
        run.recipe()


def test_a_run_has_one_writer_at_a_time(tmp_path):
    from digitrec.fileio import one_writer

    first = one_writer(tmp_path)
    with first, pytest.raises(StorageError, match="another process is training this run now"), one_writer(tmp_path):
        pass
    with one_writer(tmp_path):  # released when the first writer ends (or dies: the kernel drops it)
        pass
    with pytest.raises(StorageError, match="cannot write"), one_writer(tmp_path / "missing" / "deeper"):
        pass
