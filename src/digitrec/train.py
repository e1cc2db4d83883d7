"""Fit a recipe to data, writing a resumable run directory epoch by epoch.

Run directory: `config.json` (recipe, data, seed, versions), `checkpoint.keras` + `state.json` (the last
finished epoch, written atomically after each one), `history.csv` (one row per epoch), `model.keras` (the
final model). `resume()` continues a killed run from its last finished epoch with the same recipe.
"""

from __future__ import annotations

import csv
import logging
import math
import platform
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np

from digitrec import models
from digitrec.augment import RandomAffine
from digitrec.data import prepare
from digitrec.data.sources import Dataset, load_dataset
from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import atomic_path, read_json, write_json
from digitrec.pipeline import fit_arguments
from digitrec.recipes import Recipe

log = logging.getLogger(__name__)

CONFIG, STATE, CHECKPOINT, MODEL, HISTORY = "config.json", "state.json", "checkpoint.keras", "model.keras", "history.csv"


def versions() -> dict:
    import tensorflow as tf  # noqa: PLC0415 (only for the record; the model code itself is backend-agnostic)

    return {
        "python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend(),
        "tensorflow": tf.__version__, "numpy": np.__version__, "platform": platform.platform(),
    }


def _learning_rate(recipe: Recipe, steps_per_epoch: int):
    if recipe.schedule != "onecycle":
        return recipe.learning_rate
    total = recipe.epochs * steps_per_epoch
    warmup = int(total * recipe.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 25, decay_steps=max(1, total - warmup), alpha=0.002,
        warmup_target=recipe.learning_rate, warmup_steps=warmup,
    )


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    cls = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
           "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}[recipe.optimizer]
    ema = {"use_ema": True, "ema_momentum": recipe.ema_momentum} if recipe.ema_momentum else {}
    return cls(learning_rate=_learning_rate(recipe, steps_per_epoch), **recipe.optimizer_args, **ema)


def build_model(recipe: Recipe, steps_per_epoch: int, seed: int | None = None) -> keras.Model:
    """The recipe's architecture, augmentation in front, compiled with its optimizer and loss."""
    aug = recipe.augmentation
    pre = (RandomAffine(aug.rotation, aug.zoom, aug.shift, seed=seed, name="augment"),) if aug else ()
    model = models.build(recipe.model, pre, dtype_policy=recipe.precision, **recipe.model_args)
    model.compile(
        optimizer=_optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    return model


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: checkpoint (atomic) → history row → state.json (atomic; the commit point).

    It must come after the annealer in the callback list, so that the saved state includes the
    learning rate and plateau counters the annealer has just updated.
    """

    def __init__(self, run_dir: Path, annealer: ResumableAnnealer | None):
        super().__init__()
        self.run_dir = run_dir
        self.annealer = annealer
        self.epoch_start = 0.0
        self.elapsed = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.elapsed += time.perf_counter() - self.epoch_start
        with atomic_path(self.run_dir / CHECKPOINT, suffix=".keras") as tmp:
            self.model.save(tmp)
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
               "elapsed_seconds": round(self.elapsed, 3)}
        _append_history(self.run_dir / HISTORY, row)
        state = {"epochs_done": epoch + 1, "elapsed_seconds": self.elapsed}
        if self.annealer is not None:
            state["annealer"] = self.annealer.state()
        write_json(self.run_dir / STATE, state)


class ResumableAnnealer(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose plateau counters survive a kill: `state()` goes into state.json and a
    resumed run starts from it instead of from fresh counters."""

    def __init__(self, restored: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.restored = restored

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # resets the counters and picks the comparison for the monitor
        if self.restored:
            self.wait, self.best = self.restored["wait"], self.restored["best"]
            self.cooldown_counter = self.restored["cooldown_counter"]

    def state(self) -> dict:
        return {"wait": self.wait, "best": float(self.best), "cooldown_counter": self.cooldown_counter}


def _append_history(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        fh.flush()


def read_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _trim_history(run_dir: Path, epochs_done: int) -> None:
    """Drop rows of an epoch that was logged but not committed before a kill."""
    rows = [r for r in read_history(run_dir) if r["epoch"] <= epochs_done]
    with atomic_path(run_dir / HISTORY) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: (int(v) if k == "epoch" else v) for k, v in r.items()} for r in rows)


def split_data(data: Dataset, val_fraction: float, seed: int, limit: int | None):
    """The run's train/validation arrays (uint8 images, int labels), reproducible from config.json."""
    x, y = data.x_train, data.y_train
    if limit:
        x, y = x[:limit], y[:limit]
    return prepare.split(x, y, val_fraction, seed)


def _fit(model, recipe: Recipe, run_dir: Path, arrays, seed: int, initial_epoch: int, annealer_state,
         callbacks, verbose):
    x_tr, x_val, y_tr, y_val = arrays
    annealer = None
    if recipe.schedule == "plateau":
        p = recipe.plateau
        annealer = ResumableAnnealer(annealer_state, monitor=p.monitor, patience=p.patience, factor=p.factor,
                                     min_lr=p.min_lr, verbose=1)
    checkpoint = RunCheckpoint(run_dir, annealer)
    if initial_epoch:
        checkpoint.elapsed = read_json(run_dir / STATE)["elapsed_seconds"]
    keras.utils.set_random_seed(seed + initial_epoch)
    validation = (prepare.normalize(x_val), prepare.one_hot(y_val)) if len(x_val) else None
    inputs = fit_arguments((prepare.normalize(x_tr), prepare.one_hot(y_tr)), validation, recipe.batch_size,
                           seed + initial_epoch)
    model.fit(
        **inputs, epochs=recipe.epochs, initial_epoch=initial_epoch,
        callbacks=[*filter(None, [annealer]), *callbacks, checkpoint],
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    with atomic_path(run_dir / MODEL, suffix=".keras") as tmp:
        model.save(tmp)
    return model


def _new_run(run_dir: Path, recipe: Recipe, data: Dataset, seed: int, split_seed: int, limit: int | None,
             **extra) -> tuple:
    if (run_dir / CONFIG).exists():
        raise ConfigError(f"{run_dir} already holds a run: use --resume to continue it, or a new --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    arrays = split_data(data, recipe.val_fraction, split_seed, limit)
    write_json(run_dir / CONFIG, {
        "recipe": recipe.to_dict(), "data": _spec_text(data), "seed": seed, "split_seed": split_seed,
        "limit": limit, "train_images": len(arrays[0]), "val_images": len(arrays[1]), **extra,
        "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return arrays


def train(recipe: Recipe, data: Dataset, run_dir: str | Path, seed: int = 0, limit: int | None = None,
          callbacks=(), verbose=None, split_seed: int | None = None) -> keras.Model:
    """Train `recipe` on `data.x_train` (first `limit` images) into a fresh `run_dir`.

    `seed` drives initialisation, shuffling and augmentation; `split_seed` (default: `seed`) the
    train/validation split, so that ensemble members can share one validation set.
    """
    recipe = recipe.validated()
    run_dir = Path(run_dir)
    split_seed = seed if split_seed is None else split_seed
    arrays = _new_run(run_dir, recipe, data, seed, split_seed, limit)
    keras.utils.set_random_seed(seed)
    model = build_model(recipe, math.ceil(len(arrays[0]) / recipe.batch_size), seed)
    log.info("training %s (%s, %d params) on %d images, validating on %d", recipe.name, recipe.model,
             model.count_params(), len(arrays[0]), len(arrays[1]))
    return _fit(model, recipe, run_dir, arrays, seed, 0, None, callbacks, verbose)


def member_dir(run_dir: Path, index: int) -> Path:
    return Path(run_dir) / f"member-{index + 1}"


def run_members(run_dir: str | Path) -> list[Path]:
    """The run directories holding models and histories: an ensemble's members, or the run itself."""
    run_dir = Path(run_dir)
    count = load_config(run_dir).get("ensemble")
    return [member_dir(run_dir, i) for i in range(count)] if count else [run_dir]


def train_ensemble(recipe: Recipe, data: Dataset, run_dir: str | Path, members: int, seed: int = 0,
                   limit: int | None = None, callbacks=(), verbose=None) -> None:
    """Train `members` models that differ only in seed (seed, seed+1, …) on one shared split."""
    recipe = recipe.validated()
    run_dir = Path(run_dir)
    _new_run(run_dir, recipe, data, seed, seed, limit, ensemble=members)
    for i in range(members):
        log.info("ensemble member %d of %d", i + 1, members)
        train(recipe, data, member_dir(run_dir, i), seed + i, limit, callbacks, verbose, split_seed=seed)


def _spec_text(data: Dataset) -> str:
    spec = data.spec
    return str(spec) if spec.path is None else f"{spec.kind}:{spec.path.resolve()}"


def load_config(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise ModelError(f"{run_dir}: not a run directory (no {CONFIG})")
    return read_json(path)


def resume(run_dir: str | Path, data: Dataset | None = None, callbacks=(), verbose=None) -> None:
    """Continue a killed run (or ensemble) from its last finished epoch, with the recipe, data, seeds and
    split it began with."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    if not config.get("ensemble"):
        _resume_single(run_dir, config, data, callbacks, verbose)
        return
    data = data or load_dataset(config["data"], with_test=False)
    recipe = Recipe.from_dict(config["recipe"])
    for i, member in enumerate(run_members(run_dir)):
        if (member / MODEL).exists():
            continue
        if (member / STATE).exists():
            _resume_single(member, load_config(member), data, callbacks, verbose)
        else:
            shutil.rmtree(member, ignore_errors=True)  # killed before its first epoch finished
            train(recipe, data, member, config["seed"] + i, config["limit"], callbacks, verbose,
                  split_seed=config["split_seed"])


def _resume_single(run_dir: Path, config: dict, data: Dataset | None, callbacks, verbose) -> None:
    recipe = Recipe.from_dict(config["recipe"])
    state_path = run_dir / STATE
    if not state_path.exists():
        raise ModelError(f"{run_dir}: no finished epoch to resume from; start it again")
    state = read_json(state_path)
    if state["epochs_done"] >= recipe.epochs and (run_dir / MODEL).exists():
        raise ModelError(f"{run_dir}: the run already finished all {recipe.epochs} epochs")
    data = data or load_dataset(config["data"], with_test=False)
    arrays = split_data(data, recipe.val_fraction, config["split_seed"], config["limit"])
    _trim_history(run_dir, state["epochs_done"])
    model = keras.models.load_model(run_dir / CHECKPOINT)
    log.info("resuming %s at epoch %d of %d", run_dir, state["epochs_done"] + 1, recipe.epochs)
    _fit(model, recipe, run_dir, arrays, config["seed"], state["epochs_done"], state.get("annealer"),
         callbacks, verbose)
