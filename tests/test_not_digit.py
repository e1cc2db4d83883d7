"""Not a digit: the bundled digit check on every path (Python API, CLI table/JSON/CSV, HTTP), its threshold
and its off switch, and a predictor without a check answering as before."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import digitrec
from digitrec import bundled
from digitrec.cli import main
from digitrec.errors import DataError, ModelError
from digitrec.inference.core import Predictor
from digitrec.inference.digit_check import default_threshold, load_digit_check
from digitrec.predict.reading import ReadOptions, answers, judge

from renderings import as_scan, png_bytes


def letter_png(text: str = "A") -> bytes:
    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), 90)
    image = Image.new("L", (160, 160), 235)
    ImageDraw.Draw(image).text((80, 80), text, fill=30, font=font, anchor="mm")
    return png_bytes(image)


@pytest.fixture(scope="module")
def digit_png(mnist):
    return png_bytes(as_scan(mnist.x_test[0]))  # a 7


@pytest.fixture(scope="module")
def rec():
    return digitrec.load()


def test_a_letter_is_not_a_digit_and_a_digit_is(rec, digit_png):
    letter, digit = rec.predict([letter_png("A"), digit_png])
    assert letter.not_digit is True and 0 <= letter.digit <= 9  # the guess stays available
    assert digit.not_digit is False and digit.digit == 7
    assert letter.digit_score < default_threshold() <= digit.digit_score
    assert letter.to_dict()["not_digit"] is True and digit.to_dict()["not_digit"] is False


def test_the_threshold_moves_and_zero_turns_the_check_off(rec, digit_png):
    (off,) = rec.predict(letter_png("A"), reject=0)
    assert off.not_digit is None and off.digit_score is None and "not_digit" not in off.to_dict()
    (digit,) = rec.predict(digit_png)
    (strict,) = rec.predict(digit_png, reject=min(1.0, digit.digit_score + 1e-6))
    assert strict.not_digit is True and strict.digit == 7


@pytest.mark.parametrize("value", [1.5, -0.1, True, "0.5", float("nan")])
def test_bad_thresholds_are_refused(value):
    with pytest.raises(DataError, match="reject must be a number in"):
        ReadOptions(reject=value)


def test_the_cli_says_it_in_every_format(tmp_path, digit_png, capsys):
    (tmp_path / "a.png").write_bytes(letter_png("A"))
    (tmp_path / "seven.png").write_bytes(digit_png)
    files = [str(tmp_path / "a.png"), str(tmp_path / "seven.png")]
    assert main(["predict", "--json", *files]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["not_digit"] for r in rows] == [True, False] and all(0 <= r["digit_score"] <= 1 for r in rows)
    assert main(["predict", "--csv", *files]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["not_digit"] for r in table] == ["true", "false"]
    assert main(["predict", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "not a digit (guess" in out[1] and "not a digit" not in out[2]
    assert main(["predict", "--csv", "--reject", "0", *files]) == 0
    assert [r["not_digit"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == ["", ""]
    with pytest.raises(SystemExit) as exited:
        main(["predict", "--reject", "2", *files])
    assert exited.value.code == 2 and "--reject: must be in [0, 1], got 2" in capsys.readouterr().err


def test_the_server_says_it_and_its_option_turns_it_off(predictor, digit_png):
    pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
    from fastapi.testclient import TestClient

    from digitrec.serve import create_app

    with TestClient(create_app(predictor)) as client:
        letter = client.post("/api/predict", files={"file": ("a.png", letter_png("A"), "image/png")}).json()
        digit = client.post("/api/predict", files={"file": ("7.png", digit_png, "image/png")}).json()
    assert letter["not_digit"] is True and digit["not_digit"] is False and digit["digit"] == 7
    with TestClient(create_app(predictor, reject=0)) as client:
        off = client.post("/api/predict", files={"file": ("a.png", letter_png("A"), "image/png")}).json()
    assert off["not_digit"] is None and off["digit_score"] is None


def test_a_predictor_without_a_check_answers_as_before():
    uniform = Predictor([lambda x: np.full((len(x), 10), 0.1, np.float32)], "uniform")
    judged = judge(uniform, np.zeros((2, 28, 28), np.uint8), ReadOptions())
    assert judged.shape == (2, 10)
    (answer,) = answers("x", judged[:1], ReadOptions())
    assert answer.not_digit is None and "not_digit" not in answer.to_dict()


def test_the_check_is_the_same_on_onnx_and_keras(mnist):
    images = mnist.x_test[:64]
    onnx, keras_check = load_digit_check(), load_digit_check(bundled.CHECK_KERAS)
    assert np.allclose(onnx.scores(images), keras_check.scores(images), atol=1e-4)
    assert (onnx.scores(images) >= default_threshold()).mean() > 0.95
    threshold = json.loads(bundled.CHECK_META.read_text())["threshold"]
    assert threshold == default_threshold() and 0 < threshold < 1


def test_a_model_that_is_no_digit_check_is_refused():
    with pytest.raises(ModelError, match=r"expected one float input \(N, 28, 28, 1\) and one float output \(N, 2\)"):
        load_digit_check(bundled.ONNX)


def test_a_row_of_letters_is_no_number_and_a_number_is(rec, mnist):
    from renderings import number_image

    letters = rec.read_number(letter_png("AEFHK"))
    assert letters.not_digit is True and all(part.not_digit for part in letters.parts)
    digits = [mnist.x_test[i] for i in (3, 2, 1, 18)]  # 0 1 2 3, as MNIST crops them
    number = rec.read_number(number_image(digits, np.random.default_rng(0)))
    assert number.digits == "0123" and number.not_digit is False
    assert not any(part.not_digit for part in number.parts)
    assert all("not_digit" in part for part in number.to_dict()["parts"])
    unchecked = rec.read_number(letter_png("AEFHK"), reject=0)
    assert unchecked.not_digit is None and all(part.not_digit is None for part in unchecked.parts)
