"""Inference on an exported ONNX model with ONNX Runtime: the `Predictor` interface (batching, test-time
augmentation) without importing TensorFlow or Keras — numpy and onnxruntime only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from digitrec.errors import ConfigError, ModelError
from digitrec.predict import Predictor


class OnnxModel:
    """An ONNX Runtime session that stands in for a Keras model inside `Predictor`: called on a float32
    (N, 28, 28, 1) batch, it returns (N, 10) probabilities."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        try:
            import onnxruntime as ort  # noqa: PLC0415 (optional: the [export] extra)
        except ImportError:
            raise ConfigError("ONNX inference needs onnxruntime: pip install 'digitrec[export]'") from None
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such ONNX model file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; ORT warns about unused initialisers and the like
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=ort.get_available_providers())
        except Exception as exc:  # noqa: BLE001 (ORT raises several types for a bad file; report one line)
            raise ModelError(f"{path}: cannot load ONNX model ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or list(inputs[0].shape[1:]) != [28, 28, 1] \
                or inputs[0].type != "tensor(float)" or outputs[0].shape[-1] != 10:
            found = ", ".join(f"{t.name} {t.type} {t.shape}" for t in [*inputs, *outputs])
            raise ModelError(f"{path}: expected one float input (N, 28, 28, 1) and one output (N, 10), got {found}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    def __call__(self, images: np.ndarray, training: bool = False) -> np.ndarray:
        batch = np.ascontiguousarray(images, dtype=np.float32)
        return self.session.run([self.output_name], {self.input_name: batch})[0]


def load_onnx_predictor(path: str | os.PathLike, threads: int | None = None) -> Predictor:
    """A `Predictor` over one exported .onnx file (an exported ensemble already averages inside the graph)."""
    return Predictor([OnnxModel(path, threads)], name=str(path))
