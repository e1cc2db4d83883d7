"""Fit a recipe to data, writing a resumable run directory (`digitrec.rundir`) epoch by epoch.

`train` starts a run (or an ensemble of runs differing only in seed) and `resume` continues a killed one
from its last finished epoch with the same recipe, data, seeds and split. Both end in `_complete`, which
is safe to call on a run in any state: not started, killed before its first epoch, mid-way, or finished
except for the final model file.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from digitrec import models
from digitrec.augment import RandomAffine
from digitrec.data import prepare
from digitrec.data.sources import Dataset, load_dataset
from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import atomic_path
from digitrec.pipeline import fit_arguments
from digitrec.provenance import versions
from digitrec.recipes import Recipe
from digitrec.rundir import CHECKPOINT, MODEL, Run

log = logging.getLogger(__name__)


def _learning_rate(recipe: Recipe, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    if recipe.schedule != "onecycle":
        return recipe.learning_rate
    total = recipe.epochs * steps_per_epoch
    warmup = int(total * recipe.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 25,
        decay_steps=max(1, total - warmup),
        alpha=0.002,
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    ema = {"use_ema": True, "ema_momentum": recipe.ema_momentum} if recipe.ema_momentum else {}
    config = {"learning_rate": _learning_rate(recipe, steps_per_epoch), **recipe.optimizer_args, **ema}
    try:
        return keras.optimizers.get({"class_name": recipe.optimizer, "config": config})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {recipe.optimizer} with {recipe.optimizer_args.to_json()}: {exc}") from None


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


class ResumableAnnealer(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose plateau counters survive a kill: `state()` goes into state.json and a
    resumed run starts from it instead of from fresh counters."""

    KEYS = frozenset({"wait", "best", "cooldown_counter"})

    def __init__(self, restored: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if restored is not None and not (isinstance(restored, dict) and restored.keys() >= self.KEYS):
            raise ModelError(f"corrupt annealer state in state.json: {restored!r:.80}")
        self.restored = restored

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # resets the counters and picks the comparison for the monitor
        if self.restored:
            self.wait, self.best = self.restored["wait"], self.restored["best"]
            self.cooldown_counter = self.restored["cooldown_counter"]

    def state(self) -> dict:
        return {"wait": self.wait, "best": float(self.best), "cooldown_counter": self.cooldown_counter}


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: checkpoint (atomic) → history row → state.json (atomic; the commit point).

    It must come after the annealer in the callback list, so that the saved state includes the
    learning rate and plateau counters the annealer has just updated. A non-finite loss stops the run
    with a `ConfigError` before anything of that epoch is committed.
    """

    def __init__(self, run: Run, annealer: ResumableAnnealer | None, elapsed: float = 0.0):
        super().__init__()
        self.run, self.annealer, self.elapsed = run, annealer, elapsed
        self.epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.elapsed += time.perf_counter() - self.epoch_start
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in metrics.values()):
            raise ConfigError(
                f"training diverged in epoch {epoch + 1} (loss {metrics.get('loss')}): "
                "lower the learning rate; the run can be resumed from the last good epoch"
            )
        with atomic_path(self.run.file(CHECKPOINT), suffix=".keras") as tmp:
            self.model.save(tmp)
        self.run.append_history(
            {
                "epoch": epoch + 1,
                **metrics,
                "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                "elapsed_seconds": round(self.elapsed, 3),
            }
        )
        state: dict[str, Any] = {"epochs_done": epoch + 1, "elapsed_seconds": self.elapsed}
        if self.annealer is not None:
            state["annealer"] = self.annealer.state()
        self.run.write_state(state)


def train(
    recipe: Recipe,
    data: Dataset,
    run_dir: str | Path,
    *,
    seed: int = 0,
    limit: int | None = None,
    members: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Train `recipe` on `data.x_train` (its first `limit` images) into a new run directory.

    `seed` drives the split, initialisation, shuffling and augmentation. With `members` > 1 the run is an
    ensemble: members with seeds seed, seed+1, … on one shared split, their predictions averaged.
    """
    run = Run(run_dir)
    if run.exists():
        raise ConfigError(f"{run.path} already holds a run: use --resume to continue it, or a new --out")
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path}: exists and is not a directory")
    # Too little data fails here, before anything is written.
    split = prepare.split(data.x_train, data.y_train, recipe.val_fraction, seed, limit)
    run.write_config(
        {
            "recipe": recipe.to_dict(),
            "data": _spec_text(data),
            "seed": seed,
            "split_seed": seed,
            "limit": limit,
            "train_images": len(split.x_train),
            "val_images": len(split.x_val),
            **({"ensemble": members} if members > 1 else {}),
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    _complete(run, data, callbacks, verbose)
    return run


def resume(
    run_dir: str | Path,
    data: Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Continue a killed run (or ensemble) from its last finished epoch, with the recipe, data, seeds and
    split it began with; a run killed before its first epoch finished starts over from its config."""
    run = Run(run_dir)
    config = run.config()
    if all(member.finished() for member in run.members()):
        raise ModelError(f"{run.path}: the run already finished all {config['recipe'].get('epochs')} epochs")
    _complete(run, data or load_dataset(config["data"], with_test=False), callbacks, verbose)
    return run


def _complete(run: Run, data: Dataset, callbacks: Sequence[keras.callbacks.Callback], verbose: int | None) -> None:
    config = run.config()
    members = run.members()
    for index, member in enumerate(members):
        if member is run:
            _fit(run, config, data, callbacks, verbose)
            continue
        if member.finished():
            continue
        log.info("ensemble member %d of %d", index + 1, len(members))
        if not member.exists():
            member_config = {k: v for k, v in config.items() if k != "ensemble"}
            member.write_config({**member_config, "seed": config["seed"] + index})
        _fit(member, member.config(), data, callbacks, verbose)


def _fit(
    run: Run, config: dict, data: Dataset, callbacks: Sequence[keras.callbacks.Callback], verbose: int | None
) -> None:
    recipe = Recipe.from_dict(config["recipe"])
    seed = config["seed"]
    state = run.state()
    run.clean()
    split = prepare.split(data.x_train, data.y_train, recipe.val_fraction, config["split_seed"], config["limit"])
    if (len(split.x_train), len(split.x_val)) != (config.get("train_images"), config.get("val_images")):
        raise ModelError(f"{run.path}: the data ({_spec_text(data)}) is not what the run was trained on")
    steps = math.ceil(len(split.x_train) / recipe.batch_size)
    if state is None:  # new, or killed before its first epoch finished: start over from the config
        run.reset()
        keras.utils.set_random_seed(seed)
        model, done = build_model(recipe, steps, seed), 0
        log.info(
            "training %s (%s, %d params) on %d images, validating on %d",
            recipe.name,
            recipe.model,
            model.count_params(),
            len(split.x_train),
            len(split.x_val),
        )
    else:
        done = state["epochs_done"]
        run.trim_history(done)
        model = _load_checkpoint(run)
        log.info("resuming %s at epoch %d of %d", run.path, done + 1, recipe.epochs)

    annealer = None
    if recipe.schedule == "plateau":
        p = recipe.plateau
        annealer = ResumableAnnealer(
            state.get("annealer") if state else None,
            monitor=p.monitor,
            patience=p.patience,
            factor=p.factor,
            min_lr=p.min_lr,
            verbose=1,
        )
    checkpoint = RunCheckpoint(run, annealer, state["elapsed_seconds"] if state else 0.0)
    keras.utils.set_random_seed(seed + done)
    validation = (prepare.normalize(split.x_val), prepare.one_hot(split.y_val)) if len(split.x_val) else None
    feed = fit_arguments(
        (prepare.normalize(split.x_train), prepare.one_hot(split.y_train)), validation, recipe.batch_size, seed + done
    )
    model.fit(
        **feed,
        epochs=recipe.epochs,
        initial_epoch=done,
        callbacks=[*filter(None, [annealer]), *callbacks, checkpoint],
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    with atomic_path(run.file(MODEL), suffix=".keras") as tmp:
        model.save(tmp)


def _load_checkpoint(run: Run) -> keras.Model:
    path = run.file(CHECKPOINT)
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 (Keras raises many types for a damaged file; report one line)
        raise ModelError(
            f"{path}: cannot load the checkpoint ({type(exc).__name__}); the run cannot be "
            "resumed from it: delete state.json to start it over"
        ) from None


def _spec_text(data: Dataset) -> str:
    spec = data.spec
    return str(spec) if spec.path is None else f"{spec.kind}:{spec.path.resolve()}"
