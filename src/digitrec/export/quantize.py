"""Static int8 quantization of an exported ONNX model with ONNX Runtime's own tools.

QDQ format: int8 weights per output channel (7-bit range, see below), uint8 activations whose ranges
are calibrated on real images. The softmax stays float32, and so does everything after it (an ensemble's
average of its members' softmaxes), so probabilities keep their full resolution (a quantized softmax would
round every confidence to a multiple of 1/256). On a CPU with int8
dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM dotprod) the convolutions run several times
faster; `benchmarks/inference_backends.py` measures the speed and the agreement with the float32 model.

Weights use a reduced (7-bit) range: on x86 CPUs without VNNI, ONNX Runtime's u8×s8 kernels add pairs of
products in 16 bits and saturate with full-range weights. Measured with the bundled model on MNIST t10k on
such a CPU (AVX2, no VNNI): full range 99.55 % argmax agreement with float32 and a probability off by up to
0.87; 7-bit 99.95 % and at most 0.07. The int8 file ships to CPUs we do not know, so it must be right on all.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from digitrec.data.prepare import normalize
from digitrec.errors import ConfigError, DataError

CALIBRATION_IMAGES = 1000
_CALIBRATION_BATCH = 100


def calibration_images(train_images: np.ndarray) -> np.ndarray:
    """The images activation ranges are calibrated on: the first `CALIBRATION_IMAGES` training images
    (uint8 (N, 28, 28)) as model input. Training images, so nothing is tuned on a test set."""
    return normalize(np.asarray(train_images)[:CALIBRATION_IMAGES])


def quantize_int8(float_model: Path, output: Path, images: np.ndarray, input_name: str) -> dict:
    """Write an int8 version of the ONNX model `float_model` to `output`, calibrated on `images`
    (float32 (N, 28, 28, 1) in [0, 1]). Returns facts for the export metadata."""
    try:
        import onnx  # noqa: PLC0415 (optional: the [export] extra)
        from onnxruntime.quantization import (  # noqa: PLC0415
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(f"int8 quantization needs {exc.name}: pip install 'digitrec[export]'") from None
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1) or len(images) == 0:
        raise DataError(f"calibration images must be (N, 28, 28, 1) with N ≥ 1, got {images.shape}")

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(images.astype(np.float32), -(-len(images) // _CALIBRATION_BATCH)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(prefix="digitrec-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # Shape inference + constant folding first, as ORT recommends; the symbolic pass needs sympy
        # and is only useful for dynamic shapes inside the graph, which these models do not have.
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        kept = float_nodes(onnx.load(str(prepared)).graph)  # names after pre-processing, which may rename
        quantize_static(
            str(prepared),
            str(output),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[node.name for node in kept],
            reduce_range=True,
        )
    return {
        "quantization": {
            "scheme": "static int8 (ONNX Runtime quantize_static, QDQ)",
            "weights": "int8 (7-bit range), per channel",
            "activations": "uint8, MinMax calibration",
            "calibration_images": len(images),
            "float_ops_kept": sorted({node.op_type for node in kept}),
        }
    }


def float_nodes(graph) -> list:
    """The nodes of an ONNX graph that stay float32: every Softmax and everything computed from one. An
    ensemble averages its members' softmaxes (Add, Mul); quantized, that average came out in steps of
    1/256 and its rows summed to 0.996–1.012, which the predictor rightly refuses as not probabilities."""
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    pending = [index for index, node in enumerate(nodes) if node.op_type == "Softmax"]
    kept: set[int] = set()
    while pending:
        index = pending.pop()
        if index not in kept:
            kept.add(index)
            pending.extend(user for output in nodes[index].output for user in consumers.get(output, []))
    return [nodes[index] for index in sorted(kept)]
