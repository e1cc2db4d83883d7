"""The record of where a result came from: package versions and the platform, for config.json, model
metadata and `digitrec info`. Read from installed-package metadata, so nothing heavy is imported."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

from digitrec._version import __version__
from digitrec.errors import ConfigError

BASE_PACKAGES = ("keras", "tensorflow", "numpy")


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")


def check_keras_backend() -> None:
    """Before Keras is imported: $KERAS_BACKEND names a backend Keras knows (Keras' own error for a typo
    is a ValueError from deep inside its import)."""
    name = os.environ.get("KERAS_BACKEND")
    if name is not None and name not in KERAS_BACKENDS:
        raise ConfigError(f"KERAS_BACKEND={name!r} is not a Keras backend ({', '.join(KERAS_BACKENDS)})")


def keras_backend() -> str:
    """The Keras backend in use (or that Keras would pick), without importing Keras for it."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return str(keras.backend.backend())
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def versions(*packages: str) -> dict[str, str | None]:
    """Python, platform, digitrec, the Keras backend, and the versions of Keras, TensorFlow, numpy and
    `packages` (None for one that is not installed)."""
    found: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "digitrec": __version__,
        "backend": keras_backend(),
    }
    found.update({name: package_version(name) for name in (*BASE_PACKAGES, *packages)})
    return found
