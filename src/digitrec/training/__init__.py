"""Training: fit a recipe to data, writing a resumable run directory (`digitrec.rundir`) epoch by epoch.

build.py      the recipe's compiled model (architecture, augmentation, optimizer, schedule, loss)
callbacks.py  the per-epoch commit and the resumable plateau annealer
run.py        train() and resume(): new runs, ensembles, killed runs, calibration at the end
"""

from digitrec.training.build import build_model
from digitrec.training.callbacks import ResumableAnnealer, RunCheckpoint
from digitrec.training.run import resume, train

__all__ = ["ResumableAnnealer", "RunCheckpoint", "build_model", "resume", "train"]
