"""digitrec: handwritten-digit recognition with Keras 3.

    import digitrec
    rec = digitrec.load()                       # the bundled model (or a run dir, .keras, .onnx)
    [p] = rec.predict("my-digit.jpg")           # p.digit, p.confidence, p.probabilities
    rec.read_number("house-number.jpg").digits  # several digits, left to right
    run = digitrec.train(preset="fast", data="mnist", out="runs/x")
    digitrec.evaluate(run)

See `digitrec.api` for the details. Importing digitrec is cheap: numpy, Pillow and a model backend load
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitrec._version import __version__
from digitrec.errors import ConfigError, DataError, DigitrecError, ModelError, StorageError

if TYPE_CHECKING:
    from digitrec.api import Recognizer, evaluate, load, train
    from digitrec.predict.reading import Prediction

__all__ = [
    "ConfigError",
    "DataError",
    "DigitrecError",
    "ModelError",
    "Prediction",
    "Recognizer",
    "StorageError",
    "__version__",
    "evaluate",
    "load",
    "train",
]
_LAZY = {
    "load": "digitrec.api",
    "train": "digitrec.api",
    "evaluate": "digitrec.api",
    "Recognizer": "digitrec.api",
    "Prediction": "digitrec.predict.reading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
