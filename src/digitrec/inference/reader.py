"""The number reader at inference: a model that maps lines of writing (float32 (N, 32, W, 1), from
`imaging.line.to_line`) to column probabilities (N, W / 4, 11), read by best-path decoding (`ctc.py`).

The whole number's probability is the best path's, mapped by the calibration recorded in the model's
metadata (`reader.json` beside it: Platt scaling fitted on validation lines), so that "90 %" means nine
numbers in ten read right. The ONNX twin runs on ONNX Runtime without TensorFlow; a .keras file needs Keras.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import bundled
from digitrec.errors import ConfigError, DataError, ModelError, first_line
from digitrec.fileio import check_regular, read_json
from digitrec.inference.ctc import Reading, greedy

HEIGHT, STRIDE, CLASSES = 32, 4, 11
MAX_BATCH_COLUMNS = 32 * 1024  # lines are read in batches of about this many input columns


class NumberReader:
    """Lines → `Reading`s (digits, a confidence per digit, a calibrated whole-number probability)."""

    def __init__(self, columns: Callable[[np.ndarray], np.ndarray], calibration: Sequence[float], name: str):
        self.columns, self.name = columns, name
        self.slope, self.offset = (float(v) for v in calibration)

    def read(self, lines: Sequence[np.ndarray]) -> list[Reading]:
        """Each float32 (32, W) line (W a multiple of 4), in order; lines of similar width share a batch."""
        readings: list[Reading | None] = [None] * len(lines)
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
        start = 0
        while start < len(order):
            width = lines[order[start]].shape[1]
            end = start + 1
            while end < len(order) and lines[order[end]].shape[1] * (end - start + 1) <= MAX_BATCH_COLUMNS:
                width, end = lines[order[end]].shape[1], end + 1
            group = order[start:end]
            batch = np.zeros((len(group), HEIGHT, width, 1), np.float32)
            for row, i in enumerate(group):
                batch[row, :, : lines[i].shape[1], 0] = lines[i]
            probabilities = self._checked(self.columns(batch), batch)
            for row, i in enumerate(group):
                reading = greedy(probabilities[row, : lines[i].shape[1] // STRIDE])
                readings[i] = replace(reading, probability=self.calibrated(reading.probability))
            start = end
        return [r for r in readings if r is not None]

    def calibrated(self, path_probability: float) -> float:
        """Platt scaling of the best path's probability: sigmoid(slope × logit(p) + offset)."""
        p = min(max(path_probability, 1e-9), 1 - 1e-9)
        z = self.slope * math.log(p / (1 - p)) + self.offset
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0

    def _checked(self, output: Any, batch: np.ndarray) -> np.ndarray:
        probabilities = np.asarray(output, np.float32)
        expected = (len(batch), batch.shape[2] // STRIDE, CLASSES)
        if probabilities.shape != expected or not np.isfinite(probabilities).all():
            raise ModelError(f"{self.name}: the number reader answered {probabilities.shape}, expected {expected}")
        return probabilities


def default_reader() -> Path:
    if bundled.READER_ONNX.is_file() and importlib.util.find_spec("onnxruntime") is not None:
        return bundled.READER_ONNX
    return bundled.READER_KERAS


def load_reader(source: str | os.PathLike | None = None, threads: int | None = None) -> NumberReader:
    """A number reader from a .onnx or .keras file (None: the bundled one), with the calibration in the
    `<stem>.json` beside it (none recorded: the path probability as it is)."""
    path = Path(source) if source is not None else default_reader()
    check_regular(path, "number reader", ModelError)
    meta_path = path.with_suffix(".json")
    calibration: Sequence[float] = [1.0, 0.0]  # none recorded: the path probability as it is
    if meta_path.is_file():
        try:
            calibration = read_json(meta_path, what="reader metadata").get("calibration", calibration)
        except DataError as exc:
            raise ModelError(str(exc)) from None
        if not (isinstance(calibration, list) and len(calibration) == 2 and all(map(_finite, calibration))):
            raise ModelError(f"{meta_path}: corrupt calibration {calibration!r:.60}")
    name = "bundled reader" if source is None else str(path)
    if path.suffix.lower() == ".onnx":
        return NumberReader(_onnx_columns(path, threads), calibration, name)
    return NumberReader(_keras_columns(path), calibration, name)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _onnx_columns(path: Path, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
    try:
        import onnxruntime as ort  # noqa: PLC0415 (optional: the [export] extra)
    except ImportError:
        raise ConfigError("ONNX inference needs onnxruntime: pip install 'digitrec[export]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 (ORT raises several types for a bad file; report one line)
        raise ModelError(f"{path}: cannot load the number reader ({first_line(exc)[:200]})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (
        len(inputs) != 1
        or len(outputs) != 1
        or len(inputs[0].shape) != 4
        or inputs[0].shape[1] != HEIGHT
        or inputs[0].shape[3] != 1
        or len(outputs[0].shape) != 3
        or outputs[0].shape[2] != CLASSES
    ):
        found = ", ".join(f"{t.name} {t.shape}" for t in [*inputs, *outputs])
        raise ModelError(
            f"{path}: not a number reader (expected (N, {HEIGHT}, W, 1) → (N, W/4, {CLASSES}); got {found})"
        )
    name = inputs[0].name

    def columns(batch: np.ndarray) -> np.ndarray:
        try:
            return session.run(None, {name: batch})[0]
        except Exception as exc:  # noqa: BLE001 (ORT raises several types; report one line)
            raise ModelError(f"{path}: the number reader failed ({first_line(exc)[:200]})") from None

    return columns


def _keras_columns(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from digitrec.inference.keras_model import load_keras_model  # noqa: PLC0415 (starts Keras)

    shapes = f"(N, {HEIGHT}, W, 1) lines to (N, W/{STRIDE}, {CLASSES}) column probabilities"
    model = load_keras_model(path, (None, HEIGHT, None, 1), (None, None, CLASSES), shapes)
    return lambda batch: np.asarray(model(batch, training=False))
