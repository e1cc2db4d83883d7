"""Training across devices: `multiworker` spreads it over processes or machines
(`digitrec.training.multiworker`); `mirrored` runs one model on several devices of this machine with
TensorFlow's `MirroredStrategy` (Keras 3's `fit` works under it: the model is built and compiled in its
scope and the batch size is the global one). GPUs are used when present; otherwise the CPU is split into
N logical devices, which is how the tests run it. The choice is recorded in config.json and a resumed run
uses it again."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from digitrec.errors import ConfigError
from digitrec.runtime.provenance import keras_backend
from digitrec.training import multiworker

STRATEGIES = ("none", "mirrored", "multiworker")
# Each device holds a replica of the model and its own threads: 100,000 logical CPU devices cost 1.4 GB and
# a minute before TensorFlow gave up. No machine this runs on has more GPUs than this.
MAX_DEVICES = 64
_STRATEGY_CACHE: dict[int | None, Any] = {}


@dataclass(frozen=True)
class Distribution:
    strategy: str = "none"  # one of STRATEGIES
    devices: int | None = None  # mirrored: the number of devices (default: every GPU, else 2 CPU devices)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown distribution strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}")
        if self.devices is not None and (not isinstance(self.devices, int) or not 1 <= self.devices <= MAX_DEVICES):
            raise ConfigError(f"devices must be an integer from 1 to {MAX_DEVICES}, got {self.devices!r}")
        if self.devices is not None and self.strategy != "mirrored":
            raise ConfigError("--devices goes with --distribute mirrored (multiworker: one process per device)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Distribution:
        if data is None:
            return cls()
        if not isinstance(data, dict) or set(data) - {"strategy", "devices"}:
            raise ConfigError(f"invalid distribution in config.json: {data!r}")
        return cls(**data)


@contextlib.contextmanager
def scope(distribution: Distribution) -> Iterator[Any]:
    """The scope in which the model must be built (or loaded) and compiled; yields the strategy or None."""
    if distribution.strategy == "none":
        yield None
        return
    if distribution.strategy == "multiworker":
        multiworker.join()  # Keras' distribution is global: models built from here on are spread
        yield None
        return
    strategy = mirrored(distribution.devices)
    with strategy.scope():
        yield strategy


def mirrored(devices: int | None) -> Any:
    """One MirroredStrategy per process and device count: GPUs if there are any, else logical CPUs."""
    if keras_backend() != "tensorflow":
        raise ConfigError("--distribute mirrored needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    if devices in _STRATEGY_CACHE:
        return _STRATEGY_CACHE[devices]
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow backend only)

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = devices or len(gpus)
        if count > len(gpus):
            raise ConfigError(f"--devices {count}: this machine has {len(gpus)} GPU(s)")
        names = [f"/gpu:{i}" for i in range(count)]
    else:
        count = devices or 2
        cpu = tf.config.list_physical_devices("CPU")[0]
        with contextlib.suppress(RuntimeError):  # the runtime already started here: use what it has
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        available = len(tf.config.list_logical_devices("CPU"))
        if available < count:
            raise ConfigError(
                f"--devices {count}: TensorFlow already started with {available} CPU device(s); "
                "choose the devices before anything else runs"
            )
        names = [f"/cpu:{i}" for i in range(count)]
    _STRATEGY_CACHE[devices] = tf.distribute.MirroredStrategy(names)
    return _STRATEGY_CACHE[devices]
