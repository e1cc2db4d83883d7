"""Model files that are not what they claim, refused in one `ModelError` line when loaded: ONNX graphs whose
output is no (N, 10) float tensor or that never end, and .keras files that are no readable zip archive or
declare far more weights than they hold."""

from __future__ import annotations

import contextlib
import io
import random
import struct
import zipfile

import numpy as np
import pytest

from digitrec.errors import ModelError
from digitrec.inference import load_predictor

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402 (after the skip)

IMAGES = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 28, 28, 1])


def onnx_model(path, extra: list, output) -> None:
    """Images → Flatten → MatMul → Softmax (`p`), then `extra` nodes making the graph's output `output`."""
    weights = numpy_helper.from_array(np.zeros((784, 10), np.float32), "W")
    nodes = [
        helper.make_node("Flatten", ["images"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["p"], axis=-1),
        *extra,
    ]
    graph = helper.make_graph(nodes, "g", [IMAGES], [output], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_a_softmax_onnx_model_loads(tmp_path):
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])
    onnx_model(tmp_path / "ok.onnx", [helper.make_node("Identity", ["p"], ["probabilities"])], output)
    probabilities = load_predictor(tmp_path / "ok.onnx").predict_proba(np.zeros((3, 28, 28), np.uint8))
    np.testing.assert_allclose(probabilities, 0.1)


@pytest.mark.parametrize(
    ("node", "output", "found"),
    [
        (
            helper.make_node("ReduceSum", ["p"], ["out"], keepdims=0),
            helper.make_tensor_value_info("out", TensorProto.FLOAT, []),
            "out tensor(float) []",
        ),
        (
            helper.make_node("SequenceConstruct", ["p"], ["out"]),
            helper.make_tensor_sequence_value_info("out", TensorProto.FLOAT, ["N", 10]),
            "out seq(tensor(float))",
        ),
        (
            helper.make_node("Cast", ["p"], ["out"], to=TensorProto.STRING),
            helper.make_tensor_value_info("out", TensorProto.STRING, ["N", 10]),
            "out tensor(string) ['N', 10]",
        ),
        (
            helper.make_node("Unsqueeze", ["p", "axes"], ["out"]),
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, 10]),
            "out tensor(float) ['N', 1, 10]",
        ),
    ],
    ids=["rank-0", "sequence", "string", "rank-3"],
)
def test_an_onnx_output_that_is_no_float_n_by_10_tensor_is_one_line(tmp_path, node, output, found):
    """A rank-0 or sequence output was an IndexError, a string one numpy's TypeError: 'internal error'."""
    path = tmp_path / "odd.onnx"
    onnx_model(path, [helper.make_node("Constant", [], ["axes"], value_ints=[1]), node], output)
    with pytest.raises(ModelError, match="expected one float input \\(N, 28, 28, 1\\) and one float output") as error:
        load_predictor(path)
    assert found in str(error.value) and "\n" not in str(error.value)


def small_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", '{"a": 1}')
        archive.writestr("model.weights.h5", b"x" * 100)
    return buffer.getvalue()


def needing_version(archive: bytes, version: int) -> bytes:
    """`archive` with every central-directory entry's 'version needed to extract' set to `version`."""
    data = bytearray(archive)
    start = data.find(b"PK\x01\x02")
    while start != -1:
        data[start + 6 : start + 8] = struct.pack("<H", version)
        start = data.find(b"PK\x01\x02", start + 4)
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (needing_version(small_zip(), 99), "zip file version 9.9"),  # was 'internal error (NotImplementedError…)'
        (small_zip()[: len(small_zip()) // 2], "File is not a zip file"),  # Keras said 'File not found'
        (b"", "File is not a zip file"),
        (b"PK\x03\x04" + bytes(range(256)) * 2, "File is not a zip file"),
    ],
    ids=["version-99", "truncated", "empty", "garbage"],
)
def test_a_keras_file_that_is_no_zip_is_one_line(tmp_path, content, reason):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(ModelError) as error:
        load_predictor(path)
    assert str(error.value) == f"{path}: not a .keras archive (a zip): {reason}"


def test_mangled_zip_headers_never_escape_as_another_error(tmp_path):
    """Random bytes changed near the central directory: a fuzz of 20,000 such found 242 NotImplementedErrors."""
    from digitrec.inference.keras_model import _check_archive

    base, rng, path = small_zip(), random.Random(0), tmp_path / "fuzz.keras"
    for _ in range(500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data) - 120, len(data))] = rng.randrange(256)
        path.write_bytes(data)
        with contextlib.suppress(ModelError):  # refused in one line, or left to Keras
            _check_archive(path, len(data))


def test_a_legacy_h5_file_is_left_to_keras(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"not HDF5 either")
    with pytest.raises(ModelError, match="model.h5: cannot load model"):
        load_predictor(path)


def test_a_keras_file_declaring_huge_compressed_weights_is_refused_before_keras_fills_them(tmp_path):
    """HDF5 can declare a compressed (never written) array of any size: 1.4 MB declaring 1 GB cost 4.8 GB."""
    import h5py

    from digitrec import bundled

    with zipfile.ZipFile(bundled.KERAS) as source:
        members = {name: source.read(name) for name in source.namelist()}
    weights = tmp_path / "weights.h5"
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "a") as file:
        file.create_dataset("extra", shape=(50_000_000,), dtype="float32", chunks=(1_000_000,), compression="gzip")
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, weights.read_bytes() if name == "model.weights.h5" else data)
    with pytest.raises(ModelError, match=r"model.keras: its weights declare 19\d MB in a \d\.\d-MB file"):
        load_predictor(path)
    assert load_predictor(bundled.KERAS).name  # the real one passes


def test_an_onnx_graph_that_never_ends_is_refused_at_load(tmp_path, monkeypatch):
    """A Loop of 10^15 turns hung the load for good; the blank-image run now has a deadline."""
    from digitrec.inference import onnx_model as module

    monkeypatch.setattr(module, "PROBE_SECONDS", 0.5)
    state = [helper.make_tensor_value_info(n, t, []) for n, t in (("i", TensorProto.INT64), ("c", TensorProto.BOOL))]
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c2"]), helper.make_node("Identity", ["a"], ["a2"])],
        "body",
        [*state, helper.make_tensor_value_info("a", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info(n, t, []) for n, t in (("c2", TensorProto.BOOL), ("a2", TensorProto.FLOAT))],
    )
    constants = [
        helper.make_node("Constant", [], ["M"], value=numpy_helper.from_array(np.array(10**15, np.int64))),
        helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0.0, np.float32))),
    ]
    extra = [*constants, helper.make_node("Loop", ["M", "cond", "zero"], ["a_end"], body=body)]
    extra.append(helper.make_node("Add", ["p", "a_end"], ["probabilities"]))
    path = tmp_path / "endless.onnx"
    onnx_model(path, extra, helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]))
    with pytest.raises(ModelError, match=r"endless.onnx: no answer for a blank image within 0.5 s"):
        load_predictor(path)


def test_the_weights_are_walked_in_place_as_an_extracted_copy_reads(tmp_path):
    """h5py reads a stored member through a window on the archive (zipfile's stream re-read it from its
    start on every backward seek: 2.5 s for a 155-MB model): the same arrays as an extracted copy."""
    import h5py

    from digitrec import bundled
    from digitrec.inference.keras_model import _declared_weight_bytes

    with zipfile.ZipFile(bundled.KERAS) as archive:
        (tmp_path / "weights.h5").write_bytes(archive.read("model.weights.h5"))
    sizes = []
    with h5py.File(tmp_path / "weights.h5", "r") as file:
        file.visititems(lambda _, item: sizes.append(item.nbytes) if isinstance(item, h5py.Dataset) else None)
    assert _declared_weight_bytes(bundled.KERAS) == sum(sizes) > 1_000_000
