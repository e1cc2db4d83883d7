"""Inference: one model or an ensemble (mean of probabilities), optional test-time augmentation, and the
Kaggle submission writer."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd

from digitrec.data.prepare import normalize
from digitrec.errors import DataError, ModelError
from digitrec.fileio import atomic_path

BUNDLED_MODEL = Path(__file__).parent / "bundled" / "model.keras"
BUNDLED_ONNX = BUNDLED_MODEL.with_suffix(".onnx")  # the same weights, exported; runs without TensorFlow
BUNDLED_INT8 = BUNDLED_MODEL.with_suffix(".int8.onnx")  # quantized for batch throughput (README, "Results")
# Test-time augmentation views: the image itself and one-pixel shifts (rows, cols).
TTA_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift (N, 28, 28, 1) images by whole pixels, filling with background (0)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


class Predictor:
    """Averages the softmax outputs of one or more Keras models on uint8 (N, 28, 28) images."""

    def __init__(self, models: list, name: str):
        if not models:
            raise ModelError(f"{name}: no models")
        self.models = models
        self.name = name

    def predict_proba(self, images: np.ndarray, tta: bool = False, batch_size: int = 1000) -> np.ndarray:
        x = normalize(images) if np.asarray(images).ndim == 3 else np.asarray(images, dtype=np.float32)
        views = [_shift(x, dy, dx) for dy, dx in TTA_SHIFTS] if tta else [x]
        total = np.zeros((len(x), 10), dtype=np.float64)
        for model in self.models:
            for view in views:
                total += self._run(model, view, batch_size)
        return (total / (len(self.models) * len(views))).astype(np.float32)

    @staticmethod
    def _run(model, x: np.ndarray, batch_size: int) -> np.ndarray:
        # Calling the model per batch avoids predict()'s per-call dataset setup, which dominates small inputs.
        outs = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, 10), np.float32)


def model_files(source: str | os.PathLike) -> list[Path]:
    """The .keras files behind a model file, a run directory, or an ensemble run directory."""
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        if (path / "model.keras").is_file():
            return [path / "model.keras"]
        members = sorted(path.glob("member-*/model.keras"))
        if members:
            return members
        raise ModelError(f"{path}: no model.keras (is the run finished?) and no ensemble members")
    raise ModelError(f"{path}: no such model file or run directory")


def default_model() -> Path:
    """The bundled model: its ONNX export when ONNX Runtime is installed (starts in a fraction of the time
    and answers single images ~30× faster, see README), else the Keras file."""
    if BUNDLED_ONNX.is_file() and importlib.util.find_spec("onnxruntime") is not None:
        return BUNDLED_ONNX
    return BUNDLED_MODEL


def load_predictor(source: str | os.PathLike | None = None) -> Predictor:
    """Load a model file, a run directory or an ensemble run directory; None means the bundled model
    (`default_model()`). An exported `.onnx` file runs on ONNX Runtime, without TensorFlow."""
    bundled = source is None
    source = Path(source) if source is not None else default_model()
    if source.suffix == ".onnx":
        from digitrec.onnx_predictor import load_onnx_predictor  # noqa: PLC0415

        predictor = load_onnx_predictor(source)
    else:
        predictor = Predictor([_load_keras(path) for path in model_files(source)], name=str(source))
    if bundled:
        predictor.name = "bundled"
    return predictor


def _load_keras(path: Path):
    import keras  # noqa: PLC0415 (keeps `digitrec --help` and the ONNX path free of the Keras import)

    from digitrec import augment  # noqa: F401,PLC0415 (registers the custom layer for loading)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 (Keras raises many types for a bad file; report one line)
        raise ModelError(f"{path}: cannot load model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def write_submission(labels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write Kaggle's `ImageId,Label` CSV (ImageId from 1), validated first, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise DataError(f"submission needs one label per image, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise DataError("submission labels must be integers 0–9")
    frame = pd.DataFrame({"ImageId": np.arange(1, labels.size + 1), "Label": labels.astype(np.int64)})
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)
