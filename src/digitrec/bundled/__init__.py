"""The model shipped with digitrec, so `predict`, `serve` and `digitrec.load()` work on a fresh install:
its Keras file, its ONNX twins (float32, int8), their metadata and its model card, beside this file."""

from pathlib import Path

HERE = Path(__file__).parent
KERAS = HERE / "model.keras"
ONNX = HERE / "model.onnx"  # the same weights, exported; runs without TensorFlow
INT8 = HERE / "model.int8.onnx"  # quantized for batch throughput (docs/results.md)
META = HERE / "model.json"  # recipe, seed, measured accuracies
CARD = HERE / "MODEL_CARD.md"  # intended use, data, metrics, robustness, limitations
NAME = "bundled"
READER_KERAS = HERE / "reader.keras"  # the number reader (digitrec.nets.reader), trained on composed lines
READER_ONNX = HERE / "reader.onnx"  # its ONNX twin, read by `predict --multi`, `read_number` and the server
READER_META = HERE / "reader.json"  # its recipe, the whole-number confidence's calibration, its accuracies
READER_CARD = HERE / "READER_CARD.md"  # its intended use, data, metrics, limitations
CHECK_KERAS = HERE / "digit_check.keras"  # the digit check (digitrec.nets.digit_check): "not a digit"
CHECK_ONNX = HERE / "digit_check.onnx"  # its ONNX twin
CHECK_META = HERE / "digit_check.json"  # its recipe, default threshold and validation figures
