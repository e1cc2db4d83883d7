"""The on-disk run format, in one place: which files a run directory holds, how they are read and written,
ensemble members, model files and default export paths. Nothing else in digitrec knows these names.

A run directory::

    config.json        the recipe, data, seeds, split, versions (written once, when the run starts)
    checkpoint-N.keras the model after epoch N                      ┐ after every epoch, in this order;
    history.csv        one row per finished epoch                   │ state.json is the commit point; then
    state.json         epochs done, the checkpoint's name, elapsed  │ the
                       seconds, annealer state                      ┘ previous checkpoint goes
    model.keras        the final model (its presence means: finished)
    metrics.json · report.md · curves.png · confusion.png · errors.png     written by `evaluate`
    model.onnx · model.int8.onnx · model_savedmodel/ (+ .json metadata)    written by `export`
    member-1/ … member-K/   an ensemble's members, each a run directory of its own (config "ensemble": K)

Only JSON and CSV are read here (no Keras), so the ONNX path and the server stay light.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Any

from digitrec.errors import DataError, ModelError, StorageError
from digitrec.fileio import atomic_path, clean_partials, read_capped, read_json, write_json

CONFIG, STATE, HISTORY = "config.json", "state.json", "history.csv"
MODEL = "model.keras"
_CHECKPOINT_NAME = re.compile(r"checkpoint-[1-9][0-9]*\.keras")
METRICS, REPORT = "metrics.json", "report.md"
CURVES, CONFUSION, ERRORS = "curves.png", "confusion.png", "errors.png"
MEMBER_PREFIX = "member-"
EXPORT_FORMATS = ("onnx", "savedmodel")
# Here rather than in export.py, so that `digitrec export --help` (every CLI start) needs no export module.
DEFAULT_OPSET = 17  # tf2onnx 1.17 converts up to opset 18; 17 loads in every ONNX Runtime since 1.13
EXPORT_SUFFIXES = {("onnx", False): ".onnx", ("onnx", True): ".int8.onnx", ("savedmodel", False): "_savedmodel"}
HISTORY_COLUMNS = ("epoch", "loss", "accuracy")  # what every history.csv holds, at least
MEMBERS = range(1, 1001)  # an ensemble's size: what config.json may say, and what train accepts
SEEDS = range(2**31)  # numpy and TensorFlow take these, with room for the seeds derived per epoch and member
_CONFIG_VALUES = {
    "recipe": lambda v: isinstance(v, dict),
    "data": lambda v: isinstance(v, str),
    "seed": lambda v: type(v) is int and v in SEEDS,
    "split_seed": lambda v: type(v) is int and v in SEEDS,
    "limit": lambda v: v is None or (type(v) is int and v >= 1),
}
# What the run format itself reads of the recorded recipe (the report, the validation split); the whole
# recipe is checked by `training.recipes.Recipe` when a run is resumed.
_RECIPE_VALUES = {
    **dict.fromkeys(("name", "model", "optimizer", "schedule"), lambda v: isinstance(v, str)),
    **dict.fromkeys(("epochs", "batch_size"), lambda v: type(v) is int and v >= 1),
    "learning_rate": lambda v: _finite_number(v) and v > 0,
    "val_fraction": lambda v: _finite_number(v) and 0 <= v < 1,
}
_MAX_HISTORY_BYTES = 16 << 20  # ~100k epochs of history; a larger file is not ours


class Run:
    """A run directory. Reading a missing or corrupt file raises `ModelError` naming it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------------------------------ config

    def exists(self) -> bool:
        return self.file(CONFIG).is_file()

    def config(self) -> dict[str, Any]:
        if not self.exists():
            raise ModelError(f"{self.path}: not a run directory (no {CONFIG})")
        config = _read_json(self.file(CONFIG))
        missing = [k for k in ("recipe", "data", "seed", "split_seed", "limit") if k not in config]
        if missing:
            raise ModelError(f"{self.file(CONFIG)}: not a digitrec run config (missing {', '.join(missing)})")
        wrong = [key for key, valid in _CONFIG_VALUES.items() if not valid(config[key])]
        if wrong:
            raise ModelError(f"{self.file(CONFIG)}: corrupt run config (bad {', '.join(wrong)})")
        return config

    def recipe(self) -> dict[str, Any]:
        """The recorded recipe, with the fields the run format reads checked (a `ModelError` naming config.json)."""
        recipe = self.config()["recipe"]
        wrong = [key for key, valid in _RECIPE_VALUES.items() if key not in recipe or not valid(recipe[key])]
        if wrong:
            raise ModelError(f"{self.file(CONFIG)}: corrupt recipe (bad {', '.join(wrong)})")
        return recipe

    def write_config(self, config: dict[str, Any]) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        write_json(self.file(CONFIG), config)

    # ------------------------------------------------------------------------------------------ progress

    def state(self) -> dict[str, Any] | None:
        """The last committed epoch, or None before the first one finished."""
        if not self.file(STATE).exists():
            return None
        state = _read_json(self.file(STATE))
        done = state.get("epochs_done")
        if (
            not isinstance(done, int)
            or done < 1
            or not _finite_number(state.get("elapsed_seconds"))
            or state.get("checkpoint") != checkpoint_name(done)
        ):
            raise ModelError(f"{self.file(STATE)}: corrupt run state {state!r:.80}")
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        write_json(self.file(STATE), state)

    def checkpoint(self, state: dict[str, Any]) -> Path:
        """The checkpoint of the epoch `state` commits."""
        return self.file(state["checkpoint"])

    def drop_checkpoints(self, keep: str | None = None) -> None:
        """Remove every checkpoint but `keep`: the previous epoch's once the next is committed, or one that a
        run killed before its commit wrote (a newer epoch's, which `--resume` must not start from)."""
        for path in self.path.glob("checkpoint-*.keras"):
            if path.name != keep and _CHECKPOINT_NAME.fullmatch(path.name):
                path.unlink(missing_ok=True)

    def finished(self) -> bool:
        return self.file(MODEL).is_file()

    def history(self) -> list[dict[str, float]]:
        """Rows of history.csv as floats; a torn last line (a kill mid-write) is left out."""
        path = self.file(HISTORY)
        if not path.exists():
            return []
        try:
            text = read_capped(path, _MAX_HISTORY_BYTES, "history file").decode("utf-8")
        except (DataError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: unreadable history ({exc})") from None
        rows = []
        try:
            raw = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:  # e.g. a field past the csv module's size limit: zeros a crash left
            raise ModelError(f"{path}: unreadable history ({exc})") from None
        for number, row in enumerate(raw, start=1):
            try:
                rows.append({key: float(value) for key, value in row.items()})
            except (TypeError, ValueError):  # a missing, surplus or cut-off field
                if number < len(raw):
                    raise ModelError(f"{path}: corrupt history at data row {number}") from None
        if rows and (missing := [name for name in HISTORY_COLUMNS if name not in rows[0]]):
            raise ModelError(f"{path}: history without the column(s) {', '.join(missing)}")
        return rows

    def append_history(self, row: dict[str, float]) -> None:
        path = self.file(HISTORY)
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def trim_history(self, epochs_done: int) -> None:
        """Keep the rows of committed epochs only (a kill may leave the next one's row, or half of it)."""
        rows = [r for r in self.history() if r["epoch"] <= epochs_done]
        with atomic_path(self.file(HISTORY)) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows({k: (int(v) if k == "epoch" else v) for k, v in r.items()} for r in rows)

    def reset(self) -> None:
        """Forget a run killed before its first epoch finished: everything but config.json goes."""
        for name in (STATE, HISTORY, MODEL):
            self.file(name).unlink(missing_ok=True)
        self.drop_checkpoints()
        clean_partials(self.path)

    def clean(self) -> None:
        """Remove temporaries a killed writer left behind."""
        clean_partials(self.path)

    # ------------------------------------------------------------------------------------------ members

    def member(self, index: int) -> Run:
        """Ensemble member `index` (from 0) as a run of its own."""
        return Run(self.path / f"{MEMBER_PREFIX}{index + 1}")

    def members(self) -> list[Run]:
        """An ensemble's members, or the run itself."""
        count = self.config().get("ensemble")
        if count is None:
            return [self]
        if type(count) is not int or count not in MEMBERS:  # `true` is an int to isinstance
            raise ModelError(f"{self.file(CONFIG)}: bad ensemble size {count!r}")
        return [self.member(i) for i in range(count)]


def checkpoint_name(epoch: int) -> str:
    return f"checkpoint-{epoch}.keras"


def model_files(source: str | os.PathLike) -> list[Path]:
    """The .keras files behind a model file, a run directory or an ensemble run directory."""
    if not os.fspath(source):  # Path("") is the current directory, which would be exported silently
        raise ModelError("the model path is empty")
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        if (path / MODEL).is_file():
            return [path / MODEL]
        if Run(path).exists():  # a run directory: every member its config.json counts, or none
            runs = Run(path).members()
            unfinished = [run.path.name for run in runs if not run.finished()]
            if unfinished:
                which = (
                    f"no {MODEL} yet"
                    if runs[0].path == path  # a single run: itself
                    else f"{_few(unfinished)} of {len(runs)} without a {MODEL}"
                )
                raise ModelError(f"{path}: not finished ({which}): resume it with `digitrec train --resume {path}`")
            return [run.file(MODEL) for run in runs]
        members = _named_members(path)
        if members:
            return members
        raise ModelError(f"{path}: no {MODEL} (is the run finished?) and no ensemble members")
    if path.exists():
        raise ModelError(f"{path}: not a regular file or a run directory")
    raise ModelError(f"{path}: no such model file or run directory")


def export_path(source: str | os.PathLike, fmt: str, int8: bool = False) -> Path:
    """Where `export` writes by default: `model.onnx` (`model.int8.onnx`) / `model_savedmodel` inside a run
    directory, else beside the model file with the same stem."""
    source = Path(source)
    base = source / "model" if source.is_dir() else source.with_suffix("")
    return base.with_name(base.name + EXPORT_SUFFIXES[(fmt, int8)])


def metadata_path(output: str | os.PathLike) -> Path:
    """The JSON beside an exported model or a bundled one: `<output>.json`."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def _named_members(path: Path) -> list[Path]:
    """The model files of an ensemble without a config.json: its member folders must be exactly member-1 …
    member-K, each finished. A copy (member-2.bak), a renamed one (member-old, member-01) or a gap was
    averaged in (or left out) silently, changing the ensemble's answers."""
    found = {p.name: p for p in path.glob(f"{MEMBER_PREFIX}*") if p.is_dir()}
    expected = [f"{MEMBER_PREFIX}{number}" for number in range(1, len(found) + 1)]
    if set(found) != set(expected):
        names = sorted(found, key=_member_order)
        raise ModelError(
            f"{path}: ensemble members must be {MEMBER_PREFIX}1 … {MEMBER_PREFIX}{len(found)}, without gaps or "
            f"other {MEMBER_PREFIX}* folders; found {_few(names)}"
        )
    unfinished = [name for name in expected if not (found[name] / MODEL).is_file()]
    if unfinished:
        raise ModelError(f"{path}: not finished ({_few(unfinished)} of {len(expected)} without a {MODEL})")
    return [found[name] / MODEL for name in expected]


def _member_order(name: str) -> tuple[int, str]:
    digits = name.removeprefix(MEMBER_PREFIX)
    return (int(digits), name) if digits.isdecimal() else (1 << 30, name)


def _few(names: list[str]) -> str:
    return f"{', '.join(names[:3])}{' …' if len(names) > 3 else ''}"


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path, what="run file")
    except DataError as exc:
        raise ModelError(str(exc)) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: corrupt run file (not a JSON object)")
    return data
