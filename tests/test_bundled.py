"""The bundled model and its twins: the answers recorded in model.json are the answers every backend gives
today (so no refactoring or library upgrade changes what users get without a test saying so)."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from digitrec import bundled
from digitrec.evaluation.report import answers_sha256
from digitrec.inference import default_model, load_predictor

BUNDLED_MODEL, BUNDLED_ONNX, BUNDLED_INT8 = bundled.KERAS, bundled.ONNX, bundled.INT8


def test_the_bundled_model_gives_the_answers_recorded_beside_it(mnist):
    """The fingerprint of the argmax on all 10,000 MNIST test digits, and the error count, as measured when
    the model was made (scripts/train_bundled_model.py), through both the Keras and the ONNX path."""
    meta = json.loads(bundled.META.read_text())
    for source in (BUNDLED_MODEL, BUNDLED_ONNX):
        probabilities = load_predictor(source).predict_proba(mnist.x_test)
        assert int((probabilities.argmax(1) != mnist.y_test).sum()) == meta["mnist_test_errors"], source
        assert answers_sha256(probabilities) == meta["mnist_test_answers_sha256"], source
    assert meta["sha256"] == hashlib.sha256(BUNDLED_MODEL.read_bytes()).hexdigest()


def test_the_bundled_onnx_twin_answers_like_the_bundled_keras_model(mnist):
    """predict/serve default to bundled/model.onnx when onnxruntime is installed: it must be the same model."""
    assert default_model() == BUNDLED_ONNX
    images = mnist.x_test[:1000]
    keras_probs = load_predictor(BUNDLED_MODEL).predict_proba(images)
    onnx_probs = load_predictor().predict_proba(images)
    assert (keras_probs.argmax(1) == onnx_probs.argmax(1)).all()
    assert np.abs(keras_probs - onnx_probs).max() < 1e-4
    assert (onnx_probs.argmax(1) == mnist.y_test[:1000]).mean() > 0.99
    metadata = json.loads(BUNDLED_ONNX.with_suffix(".onnx.json").read_text())
    assert metadata["sha256"] == hashlib.sha256(BUNDLED_ONNX.read_bytes()).hexdigest()


def test_the_bundled_int8_model_answers_like_the_bundled_keras_model(mnist):
    images = mnist.x_test[:1000]
    keras_probs = load_predictor(BUNDLED_MODEL).predict_proba(images)
    int8_probs = load_predictor(BUNDLED_INT8).predict_proba(images)
    assert (keras_probs.argmax(1) == int8_probs.argmax(1)).mean() >= 0.995
    assert (int8_probs.argmax(1) == mnist.y_test[:1000]).mean() > 0.99
    metadata = json.loads(BUNDLED_INT8.with_name("model.int8.onnx.json").read_text())
    assert metadata["sha256"] == hashlib.sha256(BUNDLED_INT8.read_bytes()).hexdigest()
    assert metadata["quantization"]["calibration_images"] == 1000


def test_the_model_card_matches_model_json_and_digitrec_info_shows_it():
    """The card's headline figures are the measured ones in model.json; `digitrec info` prints the card with
    the versions, without starting TensorFlow."""
    from helpers import digitrec

    meta = json.loads(bundled.META.read_text())
    card = bundled.CARD.read_text()
    for section in ("## Intended use", "## Training data and recipe", "## Metrics", "## Limitations", "## How to"):
        assert section in card
    assert f"{meta['mnist_test_accuracy']:.2%}".replace("%", " %") in card
    assert f"{meta['mnist_test_errors']} errors" in card and f"{meta['temperature']:.3f}" in card
    result = digitrec("info")
    assert result.returncode == 0, result.stderr
    assert "digitrec " in result.stdout and "keras" in result.stdout and "## Limitations" in result.stdout
    assert json.loads(digitrec("info", "--json").stdout)["bundled_model"]["card"] == str(bundled.CARD)


def test_the_reader_card_matches_reader_json_and_its_two_files_agree(mnist):
    """The number reader's card cites reader.json's figures; its ONNX twin reads what the Keras file reads."""
    from digitrec.data.lines import compose
    from digitrec.imaging import to_line
    from digitrec.inference.reader import load_reader

    from helpers import digitrec

    meta = json.loads(bundled.READER_META.read_text())
    card = bundled.READER_CARD.read_text()
    assert f"{meta['parameters']:,} parameters" in card
    assert f"{meta['ece_calibrated']:.1%}".replace("%", " %") in card
    assert meta["onnx_max_difference"] <= 1e-4 and len(meta["calibration"]) == 2
    info = json.loads(digitrec("info", "--json").stdout)
    assert info["bundled_reader"]["card"] == str(bundled.READER_CARD)
    rng = np.random.default_rng(5)
    lines = []
    for kind in ("touching", "spaced", "long"):
        picks = rng.integers(0, len(mnist.x_test), 20 if kind == "long" else 6)
        lines.append(to_line(compose(mnist.x_test[picks], mnist.y_test[picks], kind, rng).image))
    onnx, keras_file = load_reader(bundled.READER_ONNX), load_reader(bundled.READER_KERAS)
    for a, b in zip(onnx.read(lines), keras_file.read(lines)):
        assert a.digits == b.digits and abs(a.probability - b.probability) < 1e-4
