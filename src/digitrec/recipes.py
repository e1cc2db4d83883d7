"""Training recipes as data: everything that decides a run, in one frozen dataclass, with named presets.

`seed` is exactly the original Kaggle kernel. `fast` and `best` are measured improvements (see README).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from digitrec.errors import ConfigError


@dataclass(frozen=True)
class Augmentation:
    rotation: float = 10.0  # degrees
    zoom: float = 0.1
    shift: float = 0.1  # fraction of width/height


@dataclass(frozen=True)
class Plateau:
    """ReduceLROnPlateau settings (the seed's "annealer")."""

    monitor: str = "val_accuracy"
    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-5


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    epochs: int
    batch_size: int
    model_args: dict = field(default_factory=dict)  # keyword arguments of the model builder
    optimizer: str = "rmsprop"  # rmsprop | adam | adamw | sgd
    learning_rate: float = 1e-3
    optimizer_args: dict = field(default_factory=dict)
    schedule: str = "plateau"  # plateau | onecycle | constant
    plateau: Plateau = Plateau()
    warmup_fraction: float = 0.2  # onecycle: share of steps spent warming up to learning_rate
    augmentation: Augmentation | None = Augmentation()
    label_smoothing: float = 0.0
    ema_momentum: float | None = None  # exponential moving average of weights, swapped in at the end
    precision: str = "float32"  # float32 | mixed_bfloat16
    jit_compile: bool = False
    val_fraction: float = 0.1

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown recipe fields: {', '.join(sorted(unknown))}")
        data = dict(data)
        try:
            if data.get("augmentation") is not None:
                data["augmentation"] = Augmentation(**data["augmentation"])
            data["plateau"] = Plateau(**data.get("plateau", {}))
            return cls(**data).validated()
        except (TypeError, ValueError) as error:  # missing or unknown fields, values of the wrong type
            raise ConfigError(f"invalid recipe: {error}") from None

    def validated(self) -> "Recipe":
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch size must be at least 1")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.schedule == "plateau" and self.val_fraction == 0 and self.plateau.monitor.startswith("val_"):
            raise ConfigError("the plateau annealer monitors validation accuracy: val_fraction must be > 0")
        if self.schedule not in ("plateau", "onecycle", "constant"):
            raise ConfigError(f"unknown schedule {self.schedule!r}")
        if self.optimizer not in ("rmsprop", "adam", "adamw", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}")
        if self.precision not in ("float32", "mixed_bfloat16"):
            raise ConfigError(f"unknown precision {self.precision!r}")
        return self


PRESETS: dict[str, Recipe] = {
    # The original kernel, exactly: RMSprop(1e-3, rho .9, eps 1e-8), plateau annealer, 30 epochs of 86.
    "seed": Recipe(
        name="seed", model="seed", epochs=30, batch_size=86,
        optimizer="rmsprop", learning_rate=1e-3, optimizer_args={"rho": 0.9, "epsilon": 1e-8},
    ),
    # Measured on the 2-core CPU (README, "Results"): BN + stride-2 convs, one-cycle Adam, label smoothing.
    # fast: Deotte's net slimmed (one 5×5 stem conv, 24/48/96 channels: ~2× the training throughput) with
    # BN momentum 0.9, which tracks the statistics of a short schedule's fast-moving weights.
    "fast": Recipe(
        name="fast", model="deotte",
        model_args={"dropout": 0.2, "widths": [24, 48, 96], "stem": [5], "bn_momentum": 0.9},  # JSON-shaped
        epochs=8, batch_size=128, optimizer="adam", learning_rate=3e-3, schedule="onecycle", warmup_fraction=0.15,
        label_smoothing=0.1,
    ),
    "best": Recipe(
        name="best", model="deotte", model_args={"dropout": 0.4}, epochs=20, batch_size=128, optimizer="adam",
        learning_rate=3e-3, schedule="onecycle", warmup_fraction=0.15, label_smoothing=0.1,
    ),
}


def get(name: str) -> Recipe:
    """A preset by name, or a recipe JSON file: a bare recipe or a run's config.json (its "recipe")."""
    if name in PRESETS:
        return PRESETS[name]
    if not name.endswith(".json"):
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}, or a recipe .json file")
    try:
        data = json.loads(Path(name).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read recipe {name}: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("recipe"), dict):
        data = data["recipe"]
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: a recipe is a JSON object")
    return Recipe.from_dict(data)
