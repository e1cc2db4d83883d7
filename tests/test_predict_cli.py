"""`digitrec predict` on real MNIST test digits saved as image, IDX and Kaggle CSV files, with the bundled
model: table, JSON lines and CSV outputs, per-file errors, multi-digit numbers, usage errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from digitrec.cli import main
from digitrec.data.idx import write_idx

from renderings import (
    black_on_white_png,
    chalk_on_board_png,
    encode,
    grey_image,
    number_image,
    off_centre_blue_pen_jpeg,
    palette_gif,
)

SEED = 7


@pytest.fixture(scope="module")
def inputs(mnist, predictor, tmp_path_factory):
    """Real test digits the model reads surely (so the expected answers are the labels), saved as files:
    four images of different kinds, an IDX file of 3 digits, a Kaggle CSV of 2, and a 4-digit number."""
    probabilities = predictor.predict_proba(mnist.x_test[:200])
    right = probabilities.argmax(axis=1) == mnist.y_test[:200]
    # The 13 surest right answers (a model trained with label smoothing is never near 1.0 sure).
    chosen = np.sort(np.argsort(-np.where(right, probabilities.max(axis=1), 0))[:13])
    digits, labels = mnist.x_test[chosen], mnist.y_test[chosen].astype(int)
    folder = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(SEED)
    files, expected = [], []
    for digit, label, (name, render) in zip(
        digits,
        labels,
        [
            ("pen.jpg", off_centre_blue_pen_jpeg),
            ("ink.png", black_on_white_png),
            ("palette.gif", palette_gif),
            ("chalk.png", chalk_on_board_png),
        ],
    ):
        (folder / name).write_bytes(render(digit, rng))
        files.append(str(folder / name))
        expected.append((str(folder / name), None, label))
    write_idx(folder / "three.idx.gz", digits[4:7])
    files.append(str(folder / "three.idx.gz"))
    expected += [(files[-1], i, int(label)) for i, label in enumerate(labels[4:7])]
    frame = pd.DataFrame(digits[7:9].reshape(2, -1), columns=[f"pixel{i}" for i in range(784)])
    frame.to_csv(folder / "two.csv", index=False)
    files.append(str(folder / "two.csv"))
    expected += [(files[-1], i, int(label)) for i, label in enumerate(labels[7:9])]
    (folder / "number.png").write_bytes(number_image(list(digits[9:13]), rng))
    number = (str(folder / "number.png"), "".join(map(str, labels[9:13])))
    blank = folder / "blank.png"
    blank.write_bytes(encode(grey_image(np.ones((80, 60))), "PNG"))
    corrupt = folder / "corrupt.png"
    corrupt.write_bytes(black_on_white_png(digits[0], rng)[:200])
    return {"files": files, "expected": expected, "number": number, "blank": str(blank), "corrupt": str(corrupt)}


def predict(capsys, *argv):
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_answers_every_image_in_every_file(inputs, capsys):
    # --reject 0: the classifier's answers only (the digit check keeps 99 % of digits, not this clean 3:
    # its table form is tested in test_not_digit.py)
    code, out, err = predict(capsys, "--reject", "0", *inputs["files"])
    assert code == 0 and err == ""
    header, *rows = out.splitlines()
    assert header.split() == ["FILE", "DIGIT", "CONFIDENCE", "TOP-3"]
    assert len(rows) == len(inputs["expected"])
    for row, (file, index, label) in zip(rows, inputs["expected"]):
        name, digit, confidence, *top3 = row.split()
        assert name == (file if index is None else f"{file}[{index}]")
        assert int(digit) == label and 0.5 < float(confidence) <= 1
        assert top3[0] == digit


def test_json_lines_have_the_documented_fields(inputs, capsys):
    code, out, err = predict(capsys, "--json", *inputs["files"])
    assert code == 0 and err == ""
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["file"], r.get("index"), r["digit"]) for r in records] == inputs["expected"]
    for record in records:
        assert set(record) <= {"file", "index", "digit", "confidence", "top3", "not_digit", "digit_score"}
        probabilities = [p for _, p in record["top3"]]
        assert record["top3"][0] == [record["digit"], record["confidence"]]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-5
        assert len({d for d, _ in record["top3"]}) == 3


def test_csv_has_a_header_and_one_row_per_image(inputs, capsys):
    code, out, _ = predict(capsys, "--csv", "--min-confidence", "0.5", *inputs["files"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "file",
        "index",
        "digit",
        "confidence",
        "second",
        "second_confidence",
        "third",
        "third_confidence",
        "uncertain",
        "not_digit",
    ]
    assert [(r["file"], int(r["index"]) if r["index"] else None, int(r["digit"])) for r in rows] == inputs["expected"]
    assert all(r["uncertain"] == "false" and float(r["confidence"]) >= float(r["second_confidence"]) for r in rows)


def test_min_confidence_flags_uncertain_answers(inputs, capsys):
    _, out, _ = predict(capsys, "--json", *inputs["files"])
    confidences = sorted({json.loads(line)["confidence"] for line in out.splitlines()})
    middle = len(confidences) // 2
    threshold = (confidences[middle - 1] + confidences[middle]) / 2  # between two answers: rounding-proof
    code, out, _ = predict(capsys, "--json", "--min-confidence", str(threshold), *inputs["files"])
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert all(r["uncertain"] == (r["confidence"] < threshold) for r in records)
    assert {r["uncertain"] for r in records} == {True, False}

    _, table, _ = predict(capsys, "--min-confidence", str(threshold), *inputs["files"])
    flagged = [row.split()[1].endswith("?") for row in table.splitlines()[1:]]
    assert flagged == [r["uncertain"] for r in records]


def test_a_bad_file_is_reported_and_the_others_still_answered(inputs, capsys, tmp_path):
    missing = str(tmp_path / "missing\nfile.png")  # a newline in a name does not break the one-line report
    files = [inputs["files"][0], inputs["corrupt"], inputs["files"][1], inputs["blank"], missing]
    code, out, err = predict(capsys, "--json", *files)
    assert code == 1
    assert [json.loads(line)["file"] for line in out.splitlines()] == [inputs["files"][0], inputs["files"][1]]
    errors = err.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"digitrec: error: {inputs['corrupt']}: corrupt or truncated")
    assert errors[1] == f"digitrec: error: {inputs['blank']}: no ink found (blank, uniform or noise-only image)"
    assert errors[2] == f"digitrec: error: {tmp_path / 'missing file.png'}: no such file"


def test_multi_reads_a_number(inputs, capsys):
    file, number = inputs["number"]
    code, out, _ = predict(capsys, "--multi", "--json", file, inputs["files"][0])
    assert code == 0
    whole, single = (json.loads(line) for line in out.splitlines())
    assert whole["digits"] == number and len(whole["parts"]) == len(number)
    assert 0 <= whole["confidence"] <= 1 and all(0 <= part["confidence"] <= 1 for part in whole["parts"])
    assert single["digits"] == str(inputs["expected"][0][2])

    code, out, _ = predict(capsys, "--multi", file)
    assert code == 0 and out.splitlines()[1].split()[:2] == [file, number]


def test_tta_gives_the_same_answers_here(inputs, capsys):
    code, out, _ = predict(capsys, "--csv", "--tta", *inputs["files"][:2])
    assert code == 0
    assert [int(r["digit"]) for r in csv.DictReader(io.StringIO(out))] == [e[2] for e in inputs["expected"][:2]]


@pytest.mark.parametrize(
    "flags",
    [
        ["--min-confidence", "0"],
        ["--min-confidence", "1.5"],
        ["--min-confidence", "high"],
        ["--min-confidence", "nan"],
        ["--json", "--csv"],
        ["--no-such-flag"],
    ],
    ids=lambda flags: " ".join(flags),
)
def test_bad_flags_are_usage_errors(flags, inputs, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", *flags, inputs["files"][0]])
    assert exit_.value.code == 2
    assert "usage: digitrec" in capsys.readouterr().err


def test_no_files_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict"])
    assert exit_.value.code == 2


def test_a_missing_model_is_an_error(inputs, capsys, tmp_path):
    code, out, err = predict(capsys, "--model", str(tmp_path / "nothing"), inputs["files"][0])
    assert code == 1 and out == ""
    assert err.startswith("digitrec: error: ") and "nothing" in err


def test_a_reader_that_goes_away_ends_predict_quietly(inputs):
    """`digitrec predict … | head -1`: once the pipe's reader is gone, predict stops with exit 1 and says
    nothing (no "Broken pipe" error line, no traceback from the interpreter's last flush)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "digitrec", "predict", *inputs["files"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # the reader is gone before the first line
    assert process.wait(timeout=120) == 1
    assert process.stderr.read() == ""


def test_a_broken_pipe_elsewhere_is_an_error_not_silence(monkeypatch, capsys):
    """Only stdout's reader going away ends quietly; a pipe or socket the command itself writes to that
    breaks is reported like any other failed write."""
    from digitrec.cli import info_cmd

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe", "/tmp/fifo")

    monkeypatch.setattr(info_cmd, "run", broken)
    assert main(["info"]) == 1
    assert capsys.readouterr().err == "digitrec: error: /tmp/fifo: Broken pipe\n"
