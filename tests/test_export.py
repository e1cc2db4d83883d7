"""`digitrec export` and the ONNX Runtime predictor on the real model and real MNIST test images: the exports
must predict what the Keras model predicts, and the ONNX path must run without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitrec.bundled import KERAS as BUNDLED_MODEL
from digitrec.cli import main
from digitrec.errors import ModelError
from digitrec.inference import Predictor, load_predictor
from digitrec.inference.keras_model import KerasModel

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

PARITY_IMAGES = 1000
FEW_IMAGES = 200  # where the reference costs several forward passes (TTA, ensembles)


@pytest.fixture(scope="module")
def model_file() -> Path:
    """The bundled Keras model: a real, fully trained model to export."""
    return BUNDLED_MODEL


@pytest.fixture(scope="module")
def test_images(mnist):
    return mnist.x_test[:PARITY_IMAGES], mnist.y_test[:PARITY_IMAGES]


@pytest.fixture(scope="module")
def onnx_file(model_file, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("export") / "digits.onnx"
    assert main(["export", str(model_file), "--format", "onnx", "--output", str(output)]) == 0
    return output


def float32_reference(source) -> Predictor:
    """The Keras graph that was exported (identical to the source model unless it was mixed precision)."""
    from digitrec.export import inference_model

    return Predictor([KerasModel(inference_model(source)[0])], name="reference")


@pytest.fixture(scope="module")
def keras_probs(model_file, test_images) -> np.ndarray:
    return float32_reference(model_file).predict_proba(test_images[0])


def test_onnx_export_is_float32_with_named_tensors_and_metadata(onnx_file):
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (images,), (probabilities,) = session.get_inputs(), session.get_outputs()
    assert (images.name, images.type, images.shape) == ("images", "tensor(float)", ["batch", 28, 28, 1])
    assert (probabilities.name, probabilities.type, probabilities.shape) == (
        "probabilities",
        "tensor(float)",
        ["batch", 10],
    )
    meta = json.loads(onnx_file.with_name("digits.onnx.json").read_text())
    assert meta["format"] == "onnx" and meta["opset"] == 17 and meta["members"] == 1
    assert meta["input"]["name"] == "images" and meta["output"]["name"] == "probabilities"
    assert meta["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert not list(onnx_file.parent.glob(".*partial*"))


def test_onnx_runtime_predicts_what_keras_predicts(onnx_file, test_images, keras_probs):
    images, labels = test_images
    onnx_predictor = load_predictor(onnx_file)
    assert onnx_predictor.name == str(onnx_file)
    onnx_probs = onnx_predictor.predict_proba(images, batch_size=256)
    assert onnx_probs.dtype == np.float32 and onnx_probs.shape == (PARITY_IMAGES, 10)
    np.testing.assert_array_equal(onnx_probs.argmax(1), keras_probs.argmax(1))
    np.testing.assert_allclose(onnx_probs, keras_probs, atol=1e-4)
    assert (onnx_probs.argmax(1) == labels).mean() > 0.7  # a real model (chance: 0.1)


def test_onnx_runtime_with_test_time_augmentation(model_file, onnx_file, test_images):
    images = test_images[0][:FEW_IMAGES]
    onnx_probs = load_predictor(onnx_file).predict_proba(images, tta=True)
    np.testing.assert_allclose(onnx_probs, float32_reference(model_file).predict_proba(images, tta=True), atol=1e-4)


def test_onnx_predictor_does_not_import_tensorflow(onnx_file, shared_data):
    script = (
        "import sys\n"
        "from digitrec.data.idx import read_idx\n"
        "from digitrec.inference import load_predictor\n"
        f"images = read_idx({str(next((shared_data / 'mnist').glob('t10k-images*')))!r})[:100]\n"
        f"probs = load_predictor({str(onnx_file)!r}).predict_proba(images, tta=True)\n"
        "assert probs.shape == (100, 10), probs.shape\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_int8_export_agrees_with_float32_and_keeps_a_float_softmax(
    model_file, test_images, keras_probs, shared_data, tmp_path
):
    import onnx

    output = tmp_path / "digits.int8.onnx"
    assert (
        main(["export", str(model_file), "--int8", "--data", f"mnist:{shared_data / 'mnist'}", "--output", str(output)])
        == 0
    )
    ops = {node.op_type for node in onnx.load(str(output)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Softmax"} <= ops  # quantized convs, float softmax
    meta = json.loads((tmp_path / "digits.int8.onnx.json").read_text())
    assert meta["quantization"]["calibration_images"] == 1000
    assert meta["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    images, _labels = test_images
    int8_probs = load_predictor(output).predict_proba(images)
    assert (int8_probs.argmax(1) == keras_probs.argmax(1)).mean() >= 0.99
    assert np.abs(int8_probs - keras_probs).max() < 0.2  # int8 rounding, not a different model
    assert len(np.unique(int8_probs.round(6))) > 256  # softmax not rounded to multiples of 1/256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.int8.onnx", "digits.int8.onnx.json"]


def test_int8_is_refused_for_savedmodel(model_file, tmp_path, capsys):
    assert main(["export", str(model_file), "--int8", "--format", "savedmodel", "--output", str(tmp_path / "x")]) == 1
    assert "--int8 applies to --format onnx only" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_int8_calibration_is_read_only_after_the_output_is_checked(model_file, tmp_path):
    from digitrec.errors import DigitrecError
    from digitrec.export import export_model

    taken = tmp_path / "digits.int8.onnx"
    taken.write_bytes(b"the user's export")

    def calibration():
        raise AssertionError("the calibration images were read before the checks")

    with pytest.raises(DigitrecError, match="already exists"):
        export_model(model_file, "onnx", taken, int8_calibration=calibration)
    assert taken.read_bytes() == b"the user's export"


def test_a_directory_is_not_replaced_by_an_export_file(model_file, tmp_path, capsys):
    folder = tmp_path / "exports"
    (folder / "kept.txt").parent.mkdir()
    (folder / "kept.txt").write_text("the user's file")
    assert main(["export", str(model_file), "--output", str(folder), "--force"]) == 1
    assert "is a directory; it is not replaced by a file" in capsys.readouterr().err
    assert (folder / "kept.txt").read_text() == "the user's file"


def test_savedmodel_export_reloads_with_the_same_outputs(model_file, test_images, keras_probs, tmp_path):
    import tensorflow as tf

    output = tmp_path / "digits_savedmodel"
    assert main(["export", str(model_file), "--format", "savedmodel", "--output", str(output)]) == 0
    serve = tf.saved_model.load(str(output)).signatures["serving_default"]
    x = test_images[0].astype(np.float32)[..., None] / 255.0
    probs = serve(images=tf.constant(x))["probabilities"].numpy()
    np.testing.assert_allclose(probs, keras_probs, atol=1e-5)
    meta = json.loads((tmp_path / "digits_savedmodel.json").read_text())
    assert meta["format"] == "savedmodel" and len(meta["sha256"]) == 64


def test_ensemble_run_exports_as_one_averaging_graph(model_file, test_images, tmp_path):
    import keras

    from digitrec import augment  # noqa: F401 (registers the custom layer)

    run_dir = tmp_path / "ensemble"
    model = keras.models.load_model(model_file, compile=False)
    for member in ("member-0", "member-1"):
        (run_dir / member).mkdir(parents=True)
        model.save(run_dir / member / "model.keras")
        kernel, bias = model.layers[-2].get_weights()  # halve the logits: a different, still sensible member
        model.layers[-2].set_weights([kernel * 0.5, bias])

    assert main(["export", str(run_dir)]) == 0
    output = run_dir / "model.onnx"
    assert json.loads((run_dir / "model.onnx.json").read_text())["members"] == 2
    images = test_images[0][:FEW_IMAGES]
    onnx_probs = load_predictor(output).predict_proba(images)
    ensemble_probs = load_predictor(run_dir).predict_proba(images)
    first_member_probs = load_predictor(run_dir / "member-0").predict_proba(images)
    np.testing.assert_allclose(onnx_probs, ensemble_probs, atol=1e-4)
    assert np.abs(onnx_probs - first_member_probs).max() > 1e-2  # really the average, not one member


def test_mixed_bfloat16_model_exports_in_float32(model_file, test_images, keras_probs, tmp_path):
    import keras

    from digitrec import augment  # noqa: F401

    original = keras.models.load_model(model_file, compile=False)

    def to_bf16(layer):  # as models.build does under mixed precision: all but the final softmax
        dtype = "float32" if layer is original.layers[-1] else "mixed_bfloat16"
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    mixed = keras.models.clone_model(original, clone_function=to_bf16)
    mixed.set_weights(original.get_weights())
    mixed.save(tmp_path / "mixed.keras")

    assert main(["export", str(tmp_path / "mixed.keras")]) == 0  # ONNX Runtime cannot run bfloat16 Conv
    meta = json.loads((tmp_path / "mixed.onnx.json").read_text())
    assert "mixed_bfloat16" in meta["source_precision"]
    images = test_images[0]
    onnx_probs = load_predictor(tmp_path / "mixed.onnx").predict_proba(images)
    np.testing.assert_allclose(onnx_probs, keras_probs, atol=1e-4)
    mixed_probs = load_predictor(tmp_path / "mixed.keras").predict_proba(images)
    assert (onnx_probs.argmax(1) == mixed_probs.argmax(1)).mean() > 0.99


def test_cli_errors_are_one_line(model_file, onnx_file, tmp_path, capsys):
    assert main(["export", str(tmp_path / "no-such-run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitrec: error: ") and "no-such-run" in err and err.count("\n") == 1

    assert main(["export", str(model_file), "--output", str(onnx_file)]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and err.count("\n") == 1

    with pytest.raises(SystemExit) as usage:
        main(["export", str(onnx_file), "--format", "tflite"])
    assert usage.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_force_replaces_an_existing_export(model_file, tmp_path):
    output = tmp_path / "model_savedmodel"
    output.mkdir()
    (output / "saved_model.pb").write_bytes(b"an earlier export")
    (output / "stale.txt").write_text("old")
    assert main(["export", str(model_file), "--format", "savedmodel", "--output", str(output), "--force"]) == 0
    assert (output / "saved_model.pb").stat().st_size > 100 and not (output / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_savedmodel", "model_savedmodel.json"]


def test_force_never_replaces_a_folder_of_the_users_or_the_source(model_file, tmp_path, capsys):
    """`export victim/model.keras --format savedmodel -o victim --force` once deleted victim/ with the
    model and the user's files in it; an export over its own source destroyed the source."""
    victim = tmp_path / "victim"
    victim.mkdir()
    source = victim / "model.keras"
    source.write_bytes(model_file.read_bytes())
    (victim / "notes.txt").write_text("the user's")
    assert main(["export", str(source), "--format", "savedmodel", "--output", str(victim), "--force"]) == 1
    assert "is (or holds) the model being exported" in capsys.readouterr().err
    assert main(["export", str(source), "--output", str(source), "--force"]) == 1
    assert "is (or holds) the model being exported" in capsys.readouterr().err
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    assert main(["export", str(source), "--format", "savedmodel", "--output", str(folder), "--force"]) == 1
    assert "a directory holding other files" in capsys.readouterr().err
    assert sorted(p.name for p in victim.iterdir()) == ["model.keras", "notes.txt"]
    assert source.read_bytes() == model_file.read_bytes() and (folder / "notes.txt").read_text() == "the user's"


def test_a_directory_where_the_metadata_goes_fails_before_the_export_is_written(model_file, tmp_path, capsys):
    (tmp_path / "m.onnx.json").mkdir()
    assert main(["export", str(model_file), "--output", str(tmp_path / "m.onnx")]) == 1
    assert "m.onnx.json: is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx.json"]


def test_onnx_predictor_rejects_a_bad_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="broken.onnx: cannot load ONNX model"):
        load_predictor(bad)
    with pytest.raises(ModelError, match="no such file"):
        load_predictor(tmp_path / "missing.onnx")
