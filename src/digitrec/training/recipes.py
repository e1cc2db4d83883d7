"""Training recipes as data: everything that decides a run, in one frozen dataclass, with named presets.

A `Recipe` is checked when it is built (also by `replace` and `from_dict`), so an invalid one never exists;
it is hashable (its argument mappings are frozen), and `to_dict` gives the JSON that `config.json` stores.
`seed` is exactly the original Kaggle kernel. `fast` and `best` are measured improvements (docs/results.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitrec.errors import ConfigError, DataError
from digitrec.fileio import read_json
from digitrec.nets import architectures

# The one list of each choice; train.py turns the names into Keras objects.
OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")
SCHEDULES = ("plateau", "onecycle", "constant")
PRECISIONS = ("float32", "mixed_bfloat16")
_MAX_RECIPE_BYTES = 1 << 20


class Args(Mapping[str, Any]):
    """An immutable, hashable mapping of JSON-shaped keyword arguments (lists are kept as tuples)."""

    def __init__(self, items: Mapping[str, Any] | None = None):
        if items is not None and not isinstance(items, Mapping):
            raise ConfigError(f"expected a mapping of arguments, got {type(items).__name__}")
        self._items = {str(k): _freeze(v) for k, v in (items or {}).items()}
        self._hash = hash(tuple(sorted(self._items.items())))

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._items == {k: _freeze(v) for k, v in other.items()}

    def __repr__(self) -> str:
        return f"Args({self._items!r})"

    def to_json(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self._items.items()}


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return Args(value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value.to_json() if isinstance(value, Args) else value


def _number(
    value: Any, name: str, low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> None:
    """`value` must be a real number in the range (NaN and infinities never are)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < low
        or value > high
        or (low_open and value == low)
        or (high_open and value == high)
    ):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")


MAX_EPOCHS, MAX_BATCH_SIZE = 100_000, 1 << 20  # far beyond use, within TensorFlow's int32 steps and shapes


def _integer(value: Any, name: str, low: int = 1, high: int = 2**31 - 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high:,}, got {value!r}")


@dataclass(frozen=True)
class Augmentation:
    rotation: float = 10.0  # degrees
    zoom: float = 0.1
    shift: float = 0.1  # fraction of width/height
    # Degradations (digitrec.nets.degrade): shares of images with wider strokes, blur, low resolution; and the
    # largest elastic distortion α (0: none). All off in the original augmentation.
    stroke: float = 0.0
    blur: float = 0.0
    lowres: float = 0.0
    elastic: float = 0.0

    def __post_init__(self) -> None:
        _number(self.rotation, "augmentation.rotation", 0, 180)
        _number(self.zoom, "augmentation.zoom", 0, 1, high_open=True)
        _number(self.shift, "augmentation.shift", 0, 1, high_open=True)
        for share in ("stroke", "blur", "lowres"):
            _number(getattr(self, share), f"augmentation.{share}", 0, 1)
        _number(self.elastic, "augmentation.elastic", 0, 100)

    @property
    def degrades(self) -> bool:
        return any((self.stroke, self.blur, self.lowres, self.elastic))


@dataclass(frozen=True)
class Plateau:
    """ReduceLROnPlateau settings (the seed's "annealer")."""

    monitor: str = "val_accuracy"
    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-5

    def __post_init__(self) -> None:
        if self.monitor not in ("val_accuracy", "val_loss", "accuracy", "loss"):
            raise ConfigError(f"plateau.monitor must be (val_)accuracy or (val_)loss, got {self.monitor!r}")
        _integer(self.patience, "plateau.patience", 0)
        _number(self.factor, "plateau.factor", 0, 1, low_open=True, high_open=True)
        _number(self.min_lr, "plateau.min_lr", 0)


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    epochs: int
    batch_size: int
    model_args: Args = field(default_factory=Args)  # keyword arguments of the model builder
    optimizer: str = "rmsprop"  # one of OPTIMIZERS
    learning_rate: float = 1e-3
    optimizer_args: Args = field(default_factory=Args)
    schedule: str = "plateau"  # one of SCHEDULES
    plateau: Plateau = Plateau()
    warmup_fraction: float = 0.2  # onecycle: share of steps spent warming up to learning_rate
    augmentation: Augmentation | None = Augmentation()
    label_smoothing: float = 0.0
    ema_momentum: float | None = None  # exponential moving average of weights, swapped in at the end
    precision: str = "float32"  # one of PRECISIONS
    jit_compile: bool = False  # XLA on TensorFlow (JAX always jits: training/build.py)
    val_fraction: float = 0.1
    calibrate: bool = True  # fit a temperature on the validation split at the end (calibration.py)

    def __post_init__(self) -> None:
        for name in ("model_args", "optimizer_args"):
            if not isinstance(getattr(self, name), Args):
                object.__setattr__(self, name, Args(getattr(self, name)))
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("a recipe needs a name")
        _integer(self.epochs, "epochs", high=MAX_EPOCHS)
        _integer(self.batch_size, "batch_size", high=MAX_BATCH_SIZE)
        _choice(self.optimizer, OPTIMIZERS, "optimizer")
        _choice(self.schedule, SCHEDULES, "schedule")
        _choice(self.precision, PRECISIONS, "precision")
        _number(self.learning_rate, "learning_rate", 0, 10, low_open=True)
        _number(self.warmup_fraction, "warmup_fraction", 0, 1, high_open=True)
        _number(self.label_smoothing, "label_smoothing", 0, 1, high_open=True)
        _number(self.val_fraction, "val_fraction", 0, 1, high_open=True)
        if self.ema_momentum is not None:
            _number(self.ema_momentum, "ema_momentum", 0, 1, low_open=True, high_open=True)
        for flag in ("jit_compile", "calibrate"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.schedule == "plateau" and self.val_fraction == 0 and self.plateau.monitor.startswith("val_"):
            raise ConfigError("the plateau annealer monitors validation accuracy: val_fraction must be > 0")
        architectures.check_arguments(self.model, self.model_args)

    def replace(self, **changes: Any) -> Recipe:
        """A changed copy, validated like any new recipe."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown recipe fields: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (as config.json stores it)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["model_args"], out["optimizer_args"] = self.model_args.to_json(), self.optimizer_args.to_json()
        out["plateau"] = dataclasses.asdict(self.plateau)
        out["augmentation"] = dataclasses.asdict(self.augmentation) if self.augmentation else None
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if not isinstance(data, dict):
            raise ConfigError("a recipe is a JSON object")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown recipe fields: {', '.join(sorted(map(str, unknown)))}")
        data = dict(data)
        try:
            if data.get("augmentation") is not None:
                data["augmentation"] = Augmentation(**_object(data["augmentation"], "augmentation"))
            data["plateau"] = Plateau(**_object(data.get("plateau", {}), "plateau"))
            return cls(**data)
        except TypeError as error:  # missing or unknown fields
            raise ConfigError(f"invalid recipe: {error}") from None


def _choice(value: Any, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(choices)}")


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"recipe field {name!r} must be a JSON object, got {type(value).__name__}")
    return value


PRESETS: dict[str, Recipe] = {
    # The original kernel, exactly: RMSprop(1e-3, rho .9, eps 1e-8), plateau annealer, 30 epochs of 86.
    "seed": Recipe(
        name="seed",
        model="seed",
        epochs=30,
        batch_size=86,
        optimizer="rmsprop",
        learning_rate=1e-3,
        optimizer_args=Args({"rho": 0.9, "epsilon": 1e-8}),
        calibrate=False,  # the original reported raw softmax outputs
    ),
    # Measured on the 2-core CPU (docs/results.md): BN + stride-2 convs, one-cycle Adam, label smoothing.
    # fast: Deotte's net slimmed (one 5×5 stem conv, 24/48/96 channels: ~2× the training throughput) with
    # BN momentum 0.9, which tracks the statistics of a short schedule's fast-moving weights. 9 epochs, not
    # 8: 99.557 % → 99.610 % (3 seeds) at ~0.09 of the seed recipe's time (docs/results.md).
    "fast": Recipe(
        name="fast",
        model="deotte",
        model_args=Args({"dropout": 0.2, "widths": [24, 48, 96], "stem": [5], "bn_momentum": 0.9}),
        epochs=9,
        batch_size=128,
        optimizer="adam",
        learning_rate=3e-3,
        schedule="onecycle",
        warmup_fraction=0.15,
        label_smoothing=0.1,
    ),
    "best": Recipe(
        name="best",
        model="deotte",
        model_args=Args({"dropout": 0.4}),
        epochs=20,
        batch_size=128,
        optimizer="adam",
        learning_rate=3e-3,
        schedule="onecycle",
        warmup_fraction=0.15,
        label_smoothing=0.1,
    ),
}
# robust (the bundled model): best's net for 15 epochs, trained on digits as users make them (thicker and
# thinner strokes, blur, low-resolution round trips, more rotation and zoom; chosen on the validation split
# of benchmarks/robustness.py), then calibrated (a temperature fitted on validation).
PRESETS["robust"] = PRESETS["best"].replace(
    name="robust",
    epochs=15,
    augmentation=Augmentation(rotation=15, zoom=0.15, shift=0.1, stroke=0.3, blur=0.2, lowres=0.5),
)


def get(name: str | os.PathLike) -> Recipe:
    """A preset by name, or a recipe JSON file: a bare recipe or a run's config.json (its "recipe")."""
    if not isinstance(name, str | os.PathLike):
        raise ConfigError(f"a recipe is a preset name or a .json path, got {name!r}")
    name = os.fspath(name)
    if name in PRESETS:
        return PRESETS[name]
    if not name.endswith(".json"):
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}, or a recipe .json file")
    try:
        data = read_json(Path(name), _MAX_RECIPE_BYTES, "recipe file")
    except DataError as error:
        raise ConfigError(f"cannot read recipe {error}") from None
    if isinstance(data, dict) and isinstance(data.get("recipe"), dict):
        data = data["recipe"]
    try:
        return Recipe.from_dict(data)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from None
