"""The digit check at inference: the probability that an image (MNIST format, as the classifier reads
it) is a digit at all (`nets.digit_check`, trained with outliers by `training.digit_check`).

The bundled check's default thresholds are recorded beside it (`digit_check.json`): the score below which
an image is "not a digit", chosen on validation to keep 99 % of real digits, and the (lower) one for the
digits of a number, cut from its line. The ONNX twin runs on ONNX
Runtime without TensorFlow; without ONNX Runtime the .keras file runs on Keras.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitrec import bundled
from digitrec.errors import DataError, ModelError
from digitrec.fileio import check_regular, read_json
from digitrec.inference.core import model_input

BATCH = 1000


class DigitCheck:
    """MNIST-format images → P(a digit), float32 (N,)."""

    def __init__(self, model: Callable[[np.ndarray], np.ndarray], name: str):
        self.model, self.name = model, name

    def scores(self, images: np.ndarray) -> np.ndarray:
        x = model_input(images)
        out = np.zeros(len(x), np.float32)
        for start in range(0, len(x), BATCH):
            answer = np.asarray(self.model(x[start : start + BATCH]), np.float32)
            if answer.shape != (min(BATCH, len(x) - start), 2) or not np.isfinite(answer).all():
                raise ModelError(f"{self.name}: the digit check answered {answer.shape}, expected (N, 2)")
            out[start : start + len(answer)] = answer[:, 1]
        return out


@functools.cache
def default_threshold(part: bool = False) -> float:
    """The bundled check's threshold (from its `digit_check.json`): for single images, or (`part`) for
    the digits of a number, whose pieces score lower; 0 when no check is bundled."""
    if not bundled.CHECK_META.is_file():
        return 0.0
    key = "part_threshold" if part else "threshold"
    try:
        value = read_json(bundled.CHECK_META, what="digit check metadata").get(key)
    except DataError as exc:
        raise ModelError(str(exc)) from None
    if not isinstance(value, float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ModelError(f"{bundled.CHECK_META}: corrupt {key} {value!r:.40}")
    return value


def load_digit_check(source: str | os.PathLike | None = None, threads: int | None = None) -> DigitCheck:
    """A digit check from a .onnx or .keras file (None: the bundled one, its ONNX twin when ONNX Runtime
    is installed)."""
    if source is None:
        have_ort = importlib.util.find_spec("onnxruntime") is not None
        path = bundled.CHECK_ONNX if have_ort and bundled.CHECK_ONNX.is_file() else bundled.CHECK_KERAS
    else:
        path = Path(source)
    check_regular(path, "digit check", ModelError)
    if path.suffix.lower() == ".onnx":
        from digitrec.inference.onnx_model import OnnxModel  # noqa: PLC0415 (optional backend)

        return DigitCheck(OnnxModel(path, threads, classes=2), str(path))
    from digitrec.inference.keras_model import load_keras_model  # noqa: PLC0415 (starts Keras)

    model = load_keras_model(path, (None, 28, 28, 1), (None, 2), "a digit check ((N, 28, 28, 1) → (N, 2))")
    return DigitCheck(lambda batch: np.asarray(model(batch, training=False)), str(path))


class LazyCheck:
    """The bundled digit check, loaded on first use (a predictor that is never asked pays nothing)."""

    def __init__(self, threads: int | None = None):
        self.threads, self.lock = threads, threading.Lock()
        self.check: DigitCheck | None = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        with self.lock:
            if self.check is None:
                self.check = load_digit_check(threads=self.threads)
            check = self.check
        return check.scores(images)
