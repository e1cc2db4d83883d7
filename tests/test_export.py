"""`digitrec export` and the ONNX Runtime predictor on the real model and real MNIST test images: the exports
must predict what the Keras model predicts, and the ONNX path must run without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
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
    from digitrec.export.convert import inference_model

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
    assert meta["quantization"]["float_ops_kept"] == ["Softmax"]  # nothing follows a single model's softmax
    assert meta["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    images, _labels = test_images
    int8_probs = load_predictor(output).predict_proba(images)
    assert (int8_probs.argmax(1) == keras_probs.argmax(1)).mean() >= 0.99
    assert np.abs(int8_probs - keras_probs).max() < 0.2  # int8 rounding, not a different model
    assert len(np.unique(int8_probs.round(6))) > 256  # softmax not rounded to multiples of 1/256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.int8.onnx", "digits.int8.onnx.json"]


def test_int8_is_refused_for_savedmodel(model_file, tmp_path, capsys):
    """A usage error (exit 2), as --data without --int8 is."""
    assert main(["export", str(model_file), "--int8", "--format", "savedmodel", "--output", str(tmp_path / "x")]) == 2
    assert "--int8 applies to --format onnx only" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_int8_calibration_is_read_only_after_the_output_is_checked(model_file, tmp_path):
    from digitrec.errors import DigitrecError
    from digitrec.export.convert import export_model

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


@pytest.fixture(scope="module")
def ensemble_run(model_file, tmp_path_factory) -> Path:
    """An ensemble run directory of two members made from the bundled model, with a config.json as train's."""
    import keras

    from digitrec.nets import augment  # noqa: F401 (registers the custom layer)

    run_dir = tmp_path_factory.mktemp("runs") / "ensemble"
    model = keras.models.load_model(model_file, compile=False)
    for member in ("member-1", "member-2"):
        (run_dir / member).mkdir(parents=True)
        model.save(run_dir / member / "model.keras")
        kernel, bias = model.layers[-2].get_weights()  # halve the logits: a different, still sensible member
        model.layers[-2].set_weights([kernel * 0.5, bias])
    config = {"recipe": {"name": "seed"}, "data": "mnist", "seed": 0, "split_seed": 0, "limit": None, "ensemble": 2}
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


def test_ensemble_run_exports_as_one_averaging_graph(ensemble_run, test_images):
    assert main(["export", str(ensemble_run)]) == 0
    output = ensemble_run / "model.onnx"
    assert json.loads((ensemble_run / "model.onnx.json").read_text())["members"] == 2
    images = test_images[0][:FEW_IMAGES]
    onnx_probs = load_predictor(output).predict_proba(images)
    ensemble_probs = load_predictor(ensemble_run).predict_proba(images)
    first_member_probs = load_predictor(ensemble_run / "member-1").predict_proba(images)
    np.testing.assert_allclose(onnx_probs, ensemble_probs, atol=1e-4)
    assert np.abs(onnx_probs - first_member_probs).max() > 1e-2  # really the average, not one member


def test_int8_ensemble_keeps_the_average_of_its_softmaxes_in_float(ensemble_run, test_images, shared_data, tmp_path):
    """Quantized, the members' average (Add, Mul after the softmaxes) summed to 0.996–1.012 per row, and
    `predict --model` refused the file as not probabilities."""
    output = tmp_path / "ensemble.int8.onnx"
    data = f"mnist:{shared_data / 'mnist'}"
    assert main(["export", str(ensemble_run), "--int8", "--data", data, "--output", str(output)]) == 0
    kept = json.loads((tmp_path / "ensemble.int8.onnx.json").read_text())["quantization"]["float_ops_kept"]
    assert "Softmax" in kept and len(kept) > 1
    images = test_images[0][:FEW_IMAGES]
    int8_probs = load_predictor(output).predict_proba(images)  # the probe: rows sum to 1
    np.testing.assert_allclose(int8_probs.sum(axis=1), 1.0, atol=1e-5)
    float_probs = load_predictor(ensemble_run).predict_proba(images)
    assert (int8_probs.argmax(1) == float_probs.argmax(1)).mean() >= 0.99


def test_mixed_bfloat16_model_exports_in_float32(model_file, test_images, keras_probs, tmp_path):
    import keras

    from digitrec.nets import augment  # noqa: F401

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

    with pytest.raises(SystemExit) as usage:  # Path("") is the current directory: it was exported silently
        main(["export", ""])
    assert usage.value.code == 2
    assert "RUN_DIR_OR_MODEL: empty path" in capsys.readouterr().err

    (tmp_path / "loop.onnx").symlink_to("loop.onnx")  # was an internal error (RuntimeError: Symlink loop)
    assert main(["export", str(model_file), "--output", str(tmp_path / "loop.onnx"), "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"digitrec: error: {tmp_path / 'loop.onnx'}: cannot be resolved") and err.count("\n") == 1


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
    assert main(["export", str(model_file), "--output", str(tmp_path / "m.onnx"), "--force"]) == 1
    assert "m.onnx.json: is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx.json"]


def test_an_export_never_replaces_a_file_of_its_run(model_file, ensemble_run, tmp_path, capsys):
    """`export ens -o ens/config` wrote its metadata over the run's config.json, and `export run -o
    run/model.keras --force` the ONNX bytes over the trained model; exports beside them still work."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(model_file.read_bytes())
    (run / "config.json").write_text('{"recipe": {}}')
    assert main(["export", str(run)]) == 0
    assert main(["export", str(run), "--force"]) == 0  # over the earlier export, in the run directory
    assert main(["export", str(run), "--output", str(run / "copy.onnx")]) == 0
    assert main(["export", str(run / "model.keras"), "--output", str(run / "copy.onnx"), "--force"]) == 0
    capsys.readouterr()
    refused = [
        (run, run / "config", ["--force"], "config.json: a file of the run being exported, not an earlier export"),
        (run / "model.keras", run / "config", ["--force"], "config.json: a file of the run being exported"),
        (run, run / "model.keras", ["--force"], "model.keras: is (or holds) the model being exported"),
        (ensemble_run, ensemble_run / "config", [], "config.json: already exists (use --force to replace it)"),
        (ensemble_run, ensemble_run / "config", ["--force"], "config.json: a file of the run being exported"),
        (ensemble_run, ensemble_run / "member-2" / "model.keras", ["--force"], "is (or holds) the model"),
        (ensemble_run, ensemble_run / "member-2", ["--force", "--format", "savedmodel"], "is (or holds) the model"),
    ]
    before = {p: p.read_bytes() for folder in (run, ensemble_run) for p in folder.rglob("*") if p.is_file()}
    for source, output, flags, message in refused:
        assert main(["export", str(source), "--output", str(output), *flags]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (output, err)
    after = {p: p.read_bytes() for folder in (run, ensemble_run) for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_existing_metadata_needs_force_and_must_be_replaceable(model_file, tmp_path, capsys):
    """A FIFO where the metadata goes failed only after the model was written: a model without metadata."""
    (tmp_path / "m.onnx.json").write_text("the user's notes")
    assert main(["export", str(model_file), "--output", str(tmp_path / "m.onnx")]) == 1
    assert "m.onnx.json: already exists (use --force to replace it)" in capsys.readouterr().err
    os.mkfifo(tmp_path / "f.onnx.json")
    assert main(["export", str(model_file), "--output", str(tmp_path / "f.onnx"), "--force"]) == 1
    assert "f.onnx.json: not a regular file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.onnx.json", "m.onnx.json"]
    assert (tmp_path / "m.onnx.json").read_text() == "the user's notes"


def test_onnx_predictor_rejects_a_bad_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="broken.onnx: cannot load ONNX model"):
        load_predictor(bad)
    with pytest.raises(ModelError, match="no such file"):
        load_predictor(tmp_path / "missing.onnx")
