"""Fit a recipe to data, writing a resumable run directory (`digitrec.rundir`) epoch by epoch.

`train` starts a run (or an ensemble of runs differing only in seed) and `resume` continues a killed one
from its last finished epoch with the same recipe, data, seeds and split. Both end in `_complete`, which
is safe to call on a run in any state: not started, killed before its first epoch, mid-way, or finished
except for the final model file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from digitrec.data import prepare
from digitrec.data.sources import Dataset, load_dataset
from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import LOCK, atomic_path, one_writer
from digitrec.inference.keras_model import check_keras_file
from digitrec.nets import architectures
from digitrec.rundir import CONFIG, MODEL, STATE, Run
from digitrec.training import calibration, multiworker, plan
from digitrec.training.build import build_model
from digitrec.training.callbacks import ResumableAnnealer, RunCheckpoint
from digitrec.training.distribute import Distribution, scope
from digitrec.training.feed import fit_arguments
from digitrec.training.recipes import Recipe

log = logging.getLogger(__name__)


def train(
    recipe: Recipe,
    data: Dataset,
    run_dir: str | os.PathLike,
    *,
    seed: int = 0,
    limit: int | None = None,
    members: int = 1,
    distribution: Distribution | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Train `recipe` on `data.x_train` (its first `limit` images) into a new run directory.

    `seed` drives the split, initialisation, shuffling and augmentation. With `members` > 1 the run is an
    ensemble: members with seeds seed, seed+1, … on one shared split, their predictions averaged.
    `distribution` spreads each model over several devices (`digitrec.training.distribute`).
    """
    fresh = not Path(run_dir).exists()
    run = plan.new_run(recipe, data, run_dir, seed=seed, limit=limit, members=members, distribution=distribution)
    start(run, data, fresh, callbacks, verbose)
    return run


def start(
    run: Run,
    data: Dataset,
    fresh: bool,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> None:
    """`complete` a run that `plan.new_run` has just written (into a new directory if `fresh`). A model
    builder that refuses an argument's value (without Keras only the signature is checked) does so before
    any epoch: then the run never started, and nothing of it is left to block the same directory."""
    try:
        complete(run, data, callbacks, verbose)
    except ConfigError:
        if not any(run.path.rglob(STATE)):
            _discard(run, fresh)
        raise


def _discard(run: Run, fresh: bool) -> None:
    for member in run.members():  # an ensemble's members, each in a folder of its own; or the run itself
        member.file(CONFIG).unlink(missing_ok=True)
        if member is not run:
            with contextlib.suppress(OSError):
                member.path.rmdir()
    run.file(CONFIG).unlink(missing_ok=True)
    run.file(LOCK).unlink(missing_ok=True)  # released: the run never started, nothing of it stays
    if fresh:
        with contextlib.suppress(OSError):  # only if empty
            run.path.rmdir()


def resume(
    run_dir: str | os.PathLike,
    data: Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> Run:
    """Continue a killed run (or ensemble) from its last finished epoch, with the recipe, data, seeds and
    split it began with; a run killed before its first epoch finished starts over from its config."""
    run, config = plan.resumable(run_dir)
    complete(run, data or load_dataset(config["data"], with_test=False), callbacks, verbose)
    return run


def complete(
    run: Run, data: Dataset, callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int | None = None
) -> None:
    """Train every unfinished model of a run whose config.json is written (`plan`), from wherever it is;
    one process at a time."""
    with one_writer(run.path):
        _complete(run, data, callbacks, verbose)


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
        raise ModelError(f"{run.path}: the data ({plan.spec_text(data)}) is not what the run was trained on")
    steps = math.ceil(len(split.x_train) / recipe.batch_size)
    distribution = Distribution.from_dict(config.get("distribute"))
    with scope(distribution):
        model, done = _model(run, recipe, steps, seed, state)
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
    train: tuple[np.ndarray, ...] = (split.x_train, split.y_train)
    val: tuple[np.ndarray, ...] = (split.x_val, split.y_val)
    batch_size = recipe.batch_size
    if distribution.strategy == "multiworker":  # each process feeds its shard of every batch
        workers = multiworker.join()
        train, val = multiworker.shard(workers, *train), multiworker.shard(workers, *val)
        batch_size = multiworker.local_batch(workers, batch_size)
    validation = (prepare.normalize(val[0]), prepare.one_hot(val[1])) if len(val[0]) else None
    feed = fit_arguments((prepare.normalize(train[0]), prepare.one_hot(train[1])), validation, batch_size, seed + done)
    model.fit(
        **feed,
        epochs=recipe.epochs,
        initial_epoch=done,
        callbacks=[*filter(None, [annealer]), *callbacks, checkpoint],
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    if recipe.calibrate and len(split.x_val):
        _calibrate(run, model, split)
    with atomic_path(run.file(MODEL), suffix=".keras") as tmp:
        model.save(tmp)


def _model(run: Run, recipe: Recipe, steps: int, seed: int, state: dict | None) -> tuple[keras.Model, int]:
    """A new model, or the checkpoint of the last committed epoch, and the epochs it has done."""
    if state is not None:
        run.trim_history(state["epochs_done"])
        run.drop_checkpoints(keep=run.checkpoint(state).name)
        model = _load_checkpoint(run.checkpoint(state), recipe)
        log.info("resuming %s at epoch %d of %d", run.path, state["epochs_done"] + 1, recipe.epochs)
        return model, state["epochs_done"]
    run.reset()  # new, or killed before its first epoch finished: start over from the config
    keras.utils.set_random_seed(seed)
    model = build_model(recipe, steps, seed)
    log.info(
        "training %s (%s, %d params) on %d steps of %d",
        recipe.name,
        recipe.model,
        model.count_params(),
        steps,
        recipe.batch_size,
    )
    return model, 0


def _calibrate(run: Run, model: keras.Model, split: prepare.Split) -> None:
    """Fit a temperature on the validation split and bake it into the final layer; state.json records it."""
    x_val = prepare.normalize(split.x_val)
    probabilities = np.concatenate(
        [keras.ops.convert_to_numpy(model(x_val[i : i + 1000], training=False)) for i in range(0, len(x_val), 1000)]
    )
    temperature = calibration.fit_temperature(probabilities, split.y_val)
    calibration.apply_temperature(model, temperature)
    run.write_state({**(run.state() or {}), "temperature": temperature})
    log.info(
        "calibrated: temperature %.3f (validation log loss %.4f → %.4f)",
        temperature,
        calibration.log_loss(probabilities, split.y_val),
        calibration.log_loss(calibration.scaled(probabilities, temperature), split.y_val),
    )


def _load_checkpoint(path: Path, recipe: Recipe) -> keras.Model:
    """The last committed epoch's model, through the checks every model file gets; it must be this run's:
    compiled (optimizer state and all) and of the recipe's architecture."""
    fix = "the run cannot be resumed from it: delete state.json to train it over"
    check_keras_file(path, "checkpoint")
    try:
        model = keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 (Keras raises many types for a damaged file; report one line)
        raise ModelError(f"{path}: cannot load the checkpoint ({type(exc).__name__}); {fix}") from None
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ModelError(f"{path}: not a checkpoint (a model saved without its training state); {fix}")
    expected = architectures.build(recipe.model, **recipe.model_args).count_params()
    if model.count_params() != expected:
        raise ModelError(
            f"{path}: a checkpoint of another network ({model.count_params():,} parameters; the recipe's "
            f"{recipe.model} has {expected:,}); {fix}"
        )
    return model
