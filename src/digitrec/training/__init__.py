"""Training: fit a recipe to data, writing a resumable run directory (`digitrec.rundir`) epoch by epoch.

    plan.py        before any training: a new run checked and its config written, or a killed one checked
    build.py       the recipe's compiled model (architecture, augmentation, optimizer, schedule, loss)
    callbacks.py   the per-epoch commit and the resumable plateau annealer
    distribute.py  one model over several devices (MirroredStrategy)
    run.py         train(), resume() and complete(): new runs, ensembles, killed runs, calibration

Keras is imported on first use of `train`, `resume`, `complete` or `build_model`: `plan` and `distribute`
check a run without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitrec.training.build import build_model
    from digitrec.training.callbacks import ResumableAnnealer, RunCheckpoint
    from digitrec.training.run import complete, resume, start, train

__all__ = ["ResumableAnnealer", "RunCheckpoint", "build_model", "complete", "resume", "start", "train"]
_LAZY = {
    "build_model": "build",
    "ResumableAnnealer": "callbacks",
    "RunCheckpoint": "callbacks",
    "complete": "run",
    "resume": "run",
    "start": "run",
    "train": "run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"digitrec.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'digitrec.training' has no attribute {name!r}")
