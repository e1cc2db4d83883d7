"""Before any training: a new run checked and its config.json written, or a killed run checked for
resuming — without Keras, so that a mistake (a bad recipe, too little data, an unwritable or taken
directory, damaged run files) is reported before a backend starts."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digitrec.data import prepare
from digitrec.data.sources import Dataset, load_dataset
from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import PARTIAL, clean_partials
from digitrec.rundir import CONFIG, HISTORY, MEMBERS, SEEDS, STATE, Run
from digitrec.runtime.provenance import versions
from digitrec.training import multiworker, recipes
from digitrec.training.distribute import Distribution
from digitrec.training.recipes import Recipe


def plan_run(
    preset: str | os.PathLike,
    data: str | None,
    out: str | os.PathLike,
    *,
    changes: Mapping[str, Any] = {},
    seed: int = 0,
    limit: int | None = None,
    members: int = 1,
    distribute: str = "none",
    devices: int | None = None,
) -> tuple[Run, Dataset, bool]:
    """The one way into a new run, for `digitrec train` and `digitrec.train` alike: the preset or recipe
    file with `changes` to its fields (None values ignored), the output directory, the data and the
    distribution checked, and config.json written. Returns the run, its data, and whether `out` is new."""
    check_out(out)
    check_arguments(seed, limit, members)
    fresh = not Path(out).exists()
    recipe = recipes.get(preset)
    if changes := {key: value for key, value in changes.items() if value is not None}:
        recipe = recipe.replace(**changes)
    distribution = Distribution(distribute, devices)
    dataset = load_dataset(data, with_test=False)
    run = new_run(recipe, dataset, out, seed=seed, limit=limit, members=members, distribution=distribution)
    return run, dataset, fresh


def new_run(
    recipe: Recipe,
    data: Dataset,
    run_dir: str | os.PathLike,
    *,
    seed: int = 0,
    limit: int | None = None,
    members: int = 1,
    distribution: Distribution | None = None,
) -> Run:
    """Check that a run can start and write its config.json (the recipe, data, seeds, split, versions).
    A multiworker process other than the chief writes into a private directory instead."""
    check_arguments(seed, limit, members)
    run = Run(multiworker.place(run_dir, distribution.strategy if distribution else "none"))
    check_out(run.path)
    split = prepare.split(data.x_train, data.y_train, recipe.val_fraction, seed, limit)  # too little data fails here
    config: dict[str, Any] = {
        "recipe": recipe.to_dict(),
        "data": spec_text(data),
        "seed": seed,
        "split_seed": seed,
        "limit": limit,
        "train_images": len(split.x_train),
        "val_images": len(split.x_val),
    }
    if members > 1:
        config["ensemble"] = members
    if distribution is not None and distribution.strategy != "none":
        config["distribute"] = distribution.to_dict()
    run.write_config({**config, "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return run


def check_arguments(seed: int, limit: int | None, members: int) -> None:
    """The seed, the image limit and the ensemble's size: checked before any data is read."""
    if type(seed) is not int or seed not in SEEDS:
        raise ConfigError(f"seed must be an integer between 0 and 2^31 - 1, got {seed!r}")
    if type(members) is not int or members not in MEMBERS:
        raise ConfigError(f"an ensemble has 1 to {MEMBERS[-1]} members, got {members!r}")
    if seed + members - 1 not in SEEDS:  # members train with seeds seed … seed + members - 1
        raise ConfigError(f"an ensemble of {members} from seed {seed} needs seeds up to 2^31 - 1; use a smaller --seed")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise ConfigError(f"limit must be a positive number of images (or None for all), got {limit!r}")


def check_out(run_dir: str | os.PathLike) -> None:
    """`run_dir` can hold a new run: it does not exist yet, or is an empty directory (a run that starts over
    clears its files, which must not be the user's)."""
    run = Run(run_dir)
    if run.exists():
        raise ConfigError(f"{run.path} already holds a run: use --resume to continue it, or a new --out")
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path}: exists and is not a directory")
    if run.path.is_dir() and any(PARTIAL not in path.name for path in run.path.iterdir()):
        raise ConfigError(f"{run.path}: exists and is not empty; give train a new --out (it creates the directory)")
    if run.path.is_dir():  # only the temporaries of a run killed while writing its config.json: start over
        clean_partials(run.path)


def resumable(run_dir: str | os.PathLike) -> tuple[Run, dict[str, Any]]:
    """A killed run and its config, every file of it checked: config, recipe, distribution, each member's
    state; a finished run is a `ModelError`. A multiworker process other than the chief resumes a private
    copy of it."""
    run = Run(run_dir)
    config = run.config()
    run_recipe(run)
    strategy = Distribution.from_dict(config.get("distribute")).strategy
    if (where := multiworker.place(run_dir, strategy, resume=True)) != Path(run_dir):
        return resumable(where)  # a worker other than the chief: its private copy
    members = run.members()
    epochs = run_recipe(run).epochs
    for member in members:
        if member.exists() and (state := member.state()) is not None:
            _check_progress(member, state["epochs_done"], epochs)
    if all(member.finished() for member in members):
        raise ModelError(f"{run.path}: the run already finished all {config['recipe'].get('epochs')} epochs")
    return run, config


def _check_progress(run: Run, done: int, epochs: int) -> None:
    """state.json, the recipe and history.csv tell one story, or the run is not resumed: a state past
    the recipe's end, or a history that lost epochs, would continue under wrong numbers."""
    if done > epochs:
        raise ModelError(f"{run.file(STATE)}: says {done} epochs are done, but the recipe has {epochs}")
    recorded = {int(row["epoch"]) for row in run.history()}
    if not set(range(1, done + 1)) <= recorded:
        have = f"holds epochs up to {max(recorded)}" if recorded else "is missing or empty"
        raise ModelError(
            f"{run.file(HISTORY)}: {have}, but state.json says {done} are done "
            "(restore it, or delete state.json to train the run over)"
        )


def spec_text(data: Dataset) -> str:
    spec = data.spec
    return str(spec) if spec.path is None else f"{spec.kind}:{spec.path.resolve()}"


def run_recipe(run: Run) -> Recipe:
    """The recipe a run's config.json records, checked like any recipe; a damaged one is a `ModelError`
    naming the file."""
    try:
        return Recipe.from_dict(run.config()["recipe"])
    except ConfigError as exc:
        raise ModelError(f"{run.file(CONFIG)}: {exc}") from None
