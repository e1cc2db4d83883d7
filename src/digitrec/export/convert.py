"""Export a trained model for serving without digitrec: ONNX (for ONNX Runtime) or a TensorFlow SavedModel.

Both formats are written from one inference graph: float32 images (batch, 28, 28, 1) in [0, 1] named
`images` → float32 softmax (batch, 10) named `probabilities`. A mixed_bfloat16 model is exported in
float32 (its weights are float32 already; ONNX Runtime has no bfloat16 convolutions on CPU), so exported
outputs match the Keras model up to bfloat16 rounding. An ensemble run directory (member-1 … member-K)
exports as a single graph averaging its members, as `digitrec.predict.Predictor` does.

Next to each export goes `<output>.json`: source, format, opset, tensor names, versions and a SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitrec.errors import ConfigError, DigitrecError, ModelError, StorageError, first_line
from digitrec.fileio import atomic_path, check_replaceable, read_json, write_json
from digitrec.rundir import DEFAULT_OPSET, EXPORT_FORMATS, EXPORT_SUFFIXES, Run, export_path, metadata_path, model_files
from digitrec.runtime.provenance import versions

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "images", "probabilities"
INPUT_SHAPE = (None, 28, 28, 1)


def read_metadata(output: str | os.PathLike) -> dict:
    return read_json(metadata_path(output))


def inference_model(source: str | os.PathLike) -> tuple[keras.Model, dict]:
    """The model (or the member-averaging ensemble) behind `source` as one float32 Keras model, plus facts
    about the source for the metadata."""
    import keras  # noqa: PLC0415 (keeps `digitrec export --help` light)

    from digitrec.inference.keras_model import load_keras_models  # noqa: PLC0415

    if Path(source).suffix == ".onnx":
        raise ModelError(f"{source}: already an ONNX model; export from the run directory or .keras file")
    members = load_keras_models(source)
    precisions = sorted({layer.dtype_policy.name for m in members for layer in m.layers})
    members = [_float32(m) for m in members]
    if len(members) == 1:
        model = members[0]
    else:
        images = keras.Input(INPUT_SHAPE[1:], name=INPUT_NAME)
        for index, member in enumerate(members):
            member.name = f"member_{index}"  # nested models must have unique names in the ensemble graph
        model = keras.Model(images, keras.layers.Average()([m(images) for m in members]), name="ensemble")
    return model, {"members": len(members), "source_precision": precisions}


def _float32(model: keras.Model) -> keras.Model:
    import keras  # noqa: PLC0415

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})
    )
    clone.set_weights(model.get_weights())
    return clone


def export_model(
    source: str | os.PathLike,
    fmt: str = "onnx",
    output: str | os.PathLike | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    force: bool = False,
    int8_calibration: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> Path:
    """Export `source` (a .keras file, a run directory or an ensemble run directory) to `output`
    (default: `digitrec.rundir.export_path`) atomically, and write its metadata JSON beside it. Returns `output`.

    With `int8_calibration` (float32 images (N, 28, 28, 1) in [0, 1], or a function returning them, called
    once the output and the model are known to be good) the ONNX export is quantized to int8, its
    activation ranges calibrated on those images (`digitrec.export.quantize`)."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; known: {', '.join(EXPORT_FORMATS)}")
    if int8_calibration is not None and fmt != "onnx":
        raise ConfigError("int8 quantization applies to ONNX exports only")
    output = Path(output) if output is not None else export_path(source, fmt, int8_calibration is not None)
    _check_outputs(Path(source), output, fmt, force)
    if fmt == "onnx" and not 13 <= opset <= 18:
        raise ConfigError(f"ONNX opset must be between 13 and 18, got {opset}")
    model, facts = inference_model(source)
    if callable(int8_calibration):
        int8_calibration = int8_calibration()
    started = time.perf_counter()
    with atomic_path(output, suffix=output.suffix, directory=fmt == "savedmodel", replaceable=_is_savedmodel) as tmp:
        details = _write_onnx(model, tmp, opset, int8_calibration) if fmt == "onnx" else _write_savedmodel(model, tmp)
    log.debug("exported %s to %s in %.1f s", source, output, time.perf_counter() - started)
    write_json(
        metadata_path(output),
        {
            "format": fmt,
            "path": output.name,
            "source": str(source),
            **facts,
            **details,
            "input": {
                "name": INPUT_NAME,
                "shape": ["batch", *INPUT_SHAPE[1:]],
                "dtype": "float32",
                "range": [0.0, 1.0],
            },
            "output": {"name": OUTPUT_NAME, "shape": ["batch", 10], "dtype": "float32"},
            "versions": versions("tf2onnx", "onnx", "onnxruntime") if fmt == "onnx" else versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return output


def _check_outputs(source: Path, output: Path, fmt: str, force: bool) -> None:
    """Checked before the model is loaded or anything written, so that a failure leaves nothing half-done:
    the export and its metadata need --force to replace a file, may not replace (or hold) the model they
    come from, nor any file of the source's run directory but an earlier export (`export ens -o ens/config`
    wrote its metadata over the run's config.json), and must both be writable (a FIFO where the metadata
    goes once failed after the model was written)."""
    metadata = metadata_path(output)
    for path in (output, metadata):
        if path.exists() and not force:
            raise DigitrecError(f"{path}: already exists (use --force to replace it)")
    models = [_real(source), *(_real(path) for path in model_files(source))]
    run = source if source.is_dir() else source.parent if Run(source.parent).exists() else None
    for path in (output, metadata):
        real = _real(path)
        if any(real == model or model.is_relative_to(real) for model in models):
            raise DigitrecError(f"{path}: is (or holds) the model being exported; choose another output")
        if run is not None and real.is_relative_to(_real(run)) and real.exists() and not _earlier_export(real, run):
            raise DigitrecError(f"{path}: a file of the run being exported, not an earlier export; choose another path")
    check_replaceable(output, directory=fmt == "savedmodel", replaceable=_is_savedmodel)
    check_replaceable(metadata)


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of symbolic links: RuntimeError before Python 3.13
        raise StorageError(f"{path}: cannot be resolved ({first_line(exc)})") from None


def _earlier_export(path: Path, run: Path) -> bool:
    """Whether `path` (an export or its metadata) is what an earlier export wrote: one of the run's default
    export paths, or a file that a metadata JSON beside it names."""
    model = path.with_name(path.name.removesuffix(".json")) if path.suffix == ".json" else path
    if model in {_real(export_path(run, fmt, int8)) for fmt, int8 in EXPORT_SUFFIXES}:
        return True
    try:
        meta = read_json(metadata_path(model), what="export metadata")
    except DigitrecError:
        return False
    return isinstance(meta, dict) and meta.get("format") in EXPORT_FORMATS and meta.get("path") == model.name


def _is_savedmodel(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def _signature() -> list:
    import keras  # noqa: PLC0415

    return [keras.InputSpec(shape=INPUT_SHAPE, dtype="float32", name=INPUT_NAME)]


def _write_onnx(model: keras.Model, path: Path, opset: int, int8_calibration: np.ndarray | None = None) -> dict:
    try:
        import onnx  # noqa: PLC0415 (optional: the [export] extra)
        import tf2onnx  # noqa: F401,PLC0415 (Keras converts through it)
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs {exc.name}: pip install 'digitrec[export]'") from None
    with warnings.catch_warnings(), _quiet("tf2onnx"):
        warnings.simplefilter("ignore", FutureWarning)  # Keras' numpy-2 patch of tf2onnx touches np.object
        model.export(str(path), format="onnx", input_signature=_signature(), opset_version=opset, verbose=False)
    graph = onnx.load(str(path))
    _name_io(graph)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    facts = {"opset": opset}
    if int8_calibration is not None:
        from digitrec.export.quantize import quantize_int8  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="digitrec-export-") as scratch:
            float_model = Path(scratch) / "float32.onnx"
            shutil.move(path, float_model)
            facts.update(quantize_int8(float_model, path, int8_calibration, INPUT_NAME))
    return {**facts, "sha256": _sha256(path)}


def _name_io(graph) -> None:
    """Give the ONNX graph stable tensor names and a named batch dimension (tf2onnx emits `args_0`,
    `Identity:0` and `unk__N`)."""
    renames = {graph.graph.input[0].name: INPUT_NAME, graph.graph.output[0].name: OUTPUT_NAME}
    for node in graph.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in (graph.graph.input[0], graph.graph.output[0]):
        value.name = renames[value.name]
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


def _write_savedmodel(model: keras.Model, path: Path) -> dict:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda images: {OUTPUT_NAME: model(images, training=False)},
        input_signature=[tf.TensorSpec(INPUT_SHAPE, tf.float32, name=INPUT_NAME)],
    )
    with _quiet("tensorflow"):
        archive.write_out(str(path), verbose=False)
    return {"signature": "serving_default", "endpoint": "serve", "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    """Of a file; of a directory: over its files' relative paths and contents, in sorted order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a converter's INFO chatter unless digitrec runs verbose."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    if not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)
