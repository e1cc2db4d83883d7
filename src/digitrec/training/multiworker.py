"""Training across processes or machines (`--distribute multiworker`): data parallelism with Keras'
distribution API on the JAX backend.

Why not TensorFlow's `MultiWorkerMirroredStrategy`: Keras 3's `fit` under it fails in the reduce step
(keras-team/keras#20585, open since TF 2.16), and a hand-written train step would duplicate what `fit`
gives this project (callbacks, checkpoints, history, resume). On JAX, `keras.distribution.DataParallel`
over every process's devices runs the same `fit`: the weights are replicated, each process feeds its own
shard of every batch, the gradients are summed across processes (gloo over TCP on CPUs, NCCL on GPUs) and
every process ends with identical weights (tests/test_distributed.py checks this on 127.0.0.1).

The cluster is described by Keras' own environment variables, one set per process:

    KERAS_DISTRIBUTION_JOB_ADDRESSES=HOST:PORT   the coordinator (process 0) that the others dial
    KERAS_DISTRIBUTION_NUM_PROCESSES=N
    KERAS_DISTRIBUTION_PROCESS_ID=0..N-1

Process 0, the chief, alone writes the run directory; the others write the same files into a private
temporary directory that is deleted when they exit. `--resume` needs the run directory readable by every
process (a shared filesystem across machines).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.errors import ConfigError, first_line
from digitrec.runtime.provenance import keras_backend
from digitrec.runtime.quiet import stderr_silenced

ADDRESS = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
COUNT = "KERAS_DISTRIBUTION_NUM_PROCESSES"
RANK = "KERAS_DISTRIBUTION_PROCESS_ID"
# How long a process waits for the others to join before giving up (JAX's default is 5 minutes).
JOIN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Workers:
    coordinator: str  # HOST:PORT of process 0
    count: int
    rank: int

    @property
    def chief(self) -> bool:
        return self.rank == 0


def from_environment(env: Mapping[str, str] = os.environ) -> Workers:
    """The cluster this process belongs to, from Keras' environment variables (one clear line if not)."""
    missing = [name for name in (ADDRESS, COUNT, RANK) if not env.get(name)]
    if missing:
        raise ConfigError(f"--distribute multiworker needs {', '.join(missing)} in the environment (docs/scaling.md)")
    coordinator = env[ADDRESS].split(",")[0].strip()
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{ADDRESS} must name the coordinator as HOST:PORT, got {env[ADDRESS]!r}")
    try:
        count, rank = int(env[COUNT]), int(env[RANK])
    except ValueError:
        raise ConfigError(f"{COUNT} and {RANK} must be integers") from None
    if count < 1 or not 0 <= rank < count:
        raise ConfigError(f"{RANK} must be 0..{COUNT}-1, got {rank} of {count}")
    return Workers(coordinator, count, rank)


@functools.cache  # once per process: JAX joins a cluster only once
def join() -> Workers:
    """Join the cluster (once per process, before any JAX computation) and make Keras spread every model
    over all of its devices, each process feeding its own shard of each batch."""
    if keras_backend() != "jax":
        raise ConfigError(
            "--distribute multiworker runs on the JAX backend: set KERAS_BACKEND=jax "
            "(Keras 3's fit under TensorFlow's MultiWorkerMirroredStrategy is broken upstream, keras#20585)"
        )
    workers = from_environment()
    # Start-up lines that read like failures on a CPU machine ("Unable to initialize backend 'tpu'", CUDA
    # probing by the TensorFlow that Keras imports for its data adapters): errors still raise.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
    logging.getLogger("jax._src.distributed").setLevel(logging.WARNING)
    with stderr_silenced():
        import jax  # noqa: PLC0415 (JAX backend only)
        import keras  # noqa: PLC0415

        try:
            jax.distributed.initialize(
                coordinator_address=workers.coordinator,
                num_processes=workers.count,
                process_id=workers.rank,
                # The coordinator listens on the address the others dial, not on every interface.
                coordinator_bind_address=workers.coordinator if workers.chief else None,
                initialization_timeout=JOIN_TIMEOUT_S,
            )
            devices = jax.devices()
        except Exception as exc:  # noqa: BLE001 (JAX raises RuntimeError/ValueError/XlaRuntimeError: one line)
            first = first_line(exc)[:200] or type(exc).__name__
            raise ConfigError(f"cannot join the {workers.count} workers at {workers.coordinator}: {first}") from None
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False  # each process passes its own shard (`shard`)
    keras.distribution.set_distribution(distribution)
    return workers


def shard(workers: Workers, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """This process's share of each array: every `count`-th item from `rank`, all shares of one length (so
    that every process runs the same number of steps; at most count-1 items are left out)."""
    length = len(arrays[0]) // workers.count
    return tuple(a[workers.rank :: workers.count][:length] for a in arrays)


def local_batch(workers: Workers, batch_size: int) -> int:
    """The recipe's batch size is the global one; each process feeds this many images per step."""
    if batch_size % workers.count:
        raise ConfigError(f"batch size {batch_size} does not split evenly over {workers.count} workers")
    return batch_size // workers.count


def private_run_dir(run_dir: str | os.PathLike, copy: bool = False) -> Path:
    """For a worker other than the chief: where it writes its (identical) copy of the run, deleted at exit.
    With `copy`, it starts as a copy of `run_dir` (to resume from)."""
    scratch = Path(tempfile.mkdtemp(prefix="digitrec-worker-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    target = scratch / Path(run_dir).name
    if copy:
        shutil.copytree(run_dir, target)
    return target


def place(run_dir: str | os.PathLike, strategy: str, resume: bool = False) -> Path:
    """Where this process writes the run: `run_dir`, except for a multiworker process other than the chief
    (which joins the cluster here, before anything else touches JAX)."""
    if strategy != "multiworker" or join().chief:
        return Path(run_dir)
    return private_run_dir(run_dir, copy=resume)
