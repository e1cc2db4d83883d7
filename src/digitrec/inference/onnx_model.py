"""Inference on an exported ONNX model with ONNX Runtime: numpy and onnxruntime only, no TensorFlow."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import ConfigError, ModelError, first_line
from digitrec.fileio import check_regular
from digitrec.inference.core import Predictor

PROBE_SECONDS = 10.0  # for a blank batch of two: the bundled model takes a millisecond, a big one a second
_FLOAT_TENSORS = ("tensor(float)", "tensor(double)", "tensor(float16)")  # numpy types the predictor converts


class OnnxModel:
    """An ONNX Runtime session as a `Predictor` model: float32 (N, 28, 28, 1) → (N, 10) probabilities
    (`classes` others: the digit check's 2)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, classes: int = 10):
        try:
            import onnxruntime as ort  # noqa: PLC0415 (optional: the [export] extra)
        except ImportError:
            raise ConfigError("ONNX inference needs onnxruntime: pip install 'digitrec[export]'") from None
        path = Path(path)
        check_regular(path, "ONNX model file", ModelError)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; ORT warns about unused initialisers and the like
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=ort.get_available_providers())
        except Exception as exc:  # noqa: BLE001 (ORT raises several types for a bad file; report one line)
            detail = first_line(exc)
            raise ModelError(f"{path}: cannot load ONNX model ({type(exc).__name__}: {detail[:200]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        # The declared types and ranks, checked here: a rank-0, sequence or string output otherwise failed
        # inside the predictor's probe with an IndexError or numpy's TypeError instead of this line.
        if (
            len(inputs) != 1
            or len(outputs) != 1
            or inputs[0].type != "tensor(float)"
            or not _shaped(inputs[0].shape, [28, 28, 1])
            or outputs[0].type not in _FLOAT_TENSORS
            or not _shaped(outputs[0].shape, [classes])
        ):
            found = ", ".join(f"{t.name} {t.type} {t.shape}" for t in [*inputs, *outputs])
            raise ModelError(
                f"{path}: expected one float input (N, 28, 28, 1) and one float output (N, {classes}), got {found}"
            )
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        run = ort.RunOptions()
        run.log_severity_level = 4  # its stopping is reported below, in one line: not ORT's own log line too
        self._check_it_ends(path, run)

    def _check_it_ends(self, path: Path, run: Any) -> None:
        """One run on a blank batch, stopped after `PROBE_SECONDS`: a graph can loop without end (a Loop of
        10^15 turns hung the load for good). Other failures are the predictor's probe's to report."""
        timer = threading.Timer(PROBE_SECONDS, lambda: setattr(run, "terminate", True))
        timer.start()
        try:
            self.session.run([self.output_name], {self.input_name: np.zeros((2, 28, 28, 1), np.float32)}, run)
        except Exception:  # noqa: BLE001 (any failure of the run; only the deadline's is ours to report)
            if run.terminate:
                raise ModelError(
                    f"{path}: no answer for a blank image within {PROBE_SECONDS:g} s (a loop without end?)"
                ) from None
        finally:
            timer.cancel()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]


def _shaped(shape: object, tail: list[int]) -> bool:
    """Whether an ONNX Runtime shape (a list, or None for a sequence or a map) is (batch, *tail)."""
    return isinstance(shape, list) and len(shape) == 1 + len(tail) and shape[1:] == tail


def load_onnx_predictor(path: str | os.PathLike, threads: int | None = None) -> Predictor:
    """A `Predictor` over one exported .onnx file (an exported ensemble already averages inside the graph)."""
    return Predictor([OnnxModel(path, threads)], name=str(path))
