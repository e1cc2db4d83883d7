"""Inference: load a model by what it is, and predict.

    core.py         Predictor: batching, ensemble mean, test-time augmentation (numpy only)
    keras_model.py  .keras files, run directories, ensemble run directories (imports Keras)
    onnx_model.py   exported .onnx files on ONNX Runtime (no TensorFlow)
    digit_check.py  the digit check: P(an image is a digit), behind "not a digit"
    reader.py · ctc.py   the number reader: lines of digits → readings

`load_predictor` picks the loader by the file and imports only that backend.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from digitrec import bundled
from digitrec.errors import ConfigError, ModelError
from digitrec.inference.core import TTA_SHIFTS, Predictor, model_input
from digitrec.runtime.provenance import check_keras_backend

__all__ = ["TTA_SHIFTS", "Predictor", "default_model", "load_predictor", "model_input", "needs_keras"]


def default_model() -> Path:
    """The bundled model: its ONNX twin when ONNX Runtime is installed (starts in a fraction of the time
    and answers single images ~75× faster, docs/results.md), else the Keras file."""
    if bundled.ONNX.is_file() and importlib.util.find_spec("onnxruntime") is not None:
        return bundled.ONNX
    return bundled.KERAS


def needs_keras(source: str | os.PathLike | None) -> bool:
    """Whether loading `source` (None: the bundled model) starts Keras and its backend."""
    return not _is_onnx(Path(source) if source is not None else default_model())


def _is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def load_predictor(source: str | os.PathLike | None = None, threads: int | None = None) -> Predictor:
    """Load a model file (.keras or .onnx), a run directory or an ensemble run directory; None means the
    bundled model (`default_model()`). `threads` caps ONNX Runtime's intra-op threads."""
    if source is not None and not isinstance(source, str | os.PathLike):
        raise ModelError(
            f"a model is a path (a .keras or .onnx file or a run directory), not a {type(source).__name__}"
        )
    if source is not None and not os.fspath(source):
        raise ModelError("the model path is empty (leave it out for the bundled model)")
    if threads is not None and (type(threads) is not int or threads < 1):
        raise ConfigError(f"threads must be a positive integer (or None), got {threads!r}")
    path = Path(source) if source is not None else default_model()
    if _is_onnx(path):
        from digitrec.inference.onnx_model import load_onnx_predictor  # noqa: PLC0415 (optional backend)

        predictor = load_onnx_predictor(path, threads)
    else:
        check_keras_backend()
        from digitrec.inference.keras_model import load_keras_predictor  # noqa: PLC0415 (starts Keras)

        predictor = load_keras_predictor(path)
    if source is None:
        predictor.name = bundled.NAME
    if bundled.CHECK_META.is_file():  # "not a digit" for every model, from the bundled digit check
        from digitrec.inference.digit_check import LazyCheck  # noqa: PLC0415

        predictor.check = LazyCheck(threads)
    return predictor
