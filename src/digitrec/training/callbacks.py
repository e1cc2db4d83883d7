"""The callbacks that make a run resumable: the commit after each epoch, and an annealer whose counters
survive a kill."""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import atomic_path
from digitrec.rundir import Run, checkpoint_name


class ResumableAnnealer(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau whose plateau counters survive a kill: `state()` goes into state.json and a
    resumed run starts from it instead of from fresh counters."""

    KEYS = frozenset({"wait", "best", "cooldown_counter"})

    def __init__(self, restored: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if restored is not None and not _valid_counters(restored):
            raise ModelError(f"corrupt annealer state in state.json: {restored!r:.80}")
        self.restored = restored

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)  # resets the counters and picks the comparison for the monitor
        if self.restored:
            self.wait, self.best = self.restored["wait"], self.restored["best"]
            self.cooldown_counter = self.restored["cooldown_counter"]

    def state(self) -> dict:
        return {"wait": self.wait, "best": float(self.best), "cooldown_counter": self.cooldown_counter}


def _valid_counters(restored: Any) -> bool:
    """Counters as `ResumableAnnealer.state()` writes them: two counts and the best value (±inf before any)."""
    return (
        isinstance(restored, dict)
        and restored.keys() >= ResumableAnnealer.KEYS
        and all(type(restored[key]) is int and restored[key] >= 0 for key in ("wait", "cooldown_counter"))
        and type(restored["best"]) in (int, float)
    )


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: checkpoint-N.keras (atomic) → history row → state.json naming it (atomic; the
    commit point) → the previous checkpoint removed. A kill anywhere leaves state.json naming a checkpoint
    of the epoch it counts, so a resumed run repeats no epoch and skips none.

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
        checkpoint = checkpoint_name(epoch + 1)
        with atomic_path(self.run.file(checkpoint), suffix=".keras") as tmp:
            self.model.save(tmp)
        self.run.append_history(
            {
                "epoch": epoch + 1,
                **metrics,
                "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                "elapsed_seconds": round(self.elapsed, 3),
            }
        )
        state: dict[str, Any] = {"epochs_done": epoch + 1, "checkpoint": checkpoint, "elapsed_seconds": self.elapsed}
        if self.annealer is not None:
            state["annealer"] = self.annealer.state()
        self.run.write_state(state)
        self.run.drop_checkpoints(keep=checkpoint)
