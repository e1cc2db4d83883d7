"""The one-line reports of other libraries' errors (`digitrec.errors.first_line`)."""

from __future__ import annotations

import pytest

from digitrec.errors import DataError, first_line
from digitrec.fileio import read_json


@pytest.mark.parametrize(
    "message, line",
    [
        ("", ""),  # an exception with no message: "" (not an IndexError inside an error handler)
        ("\n\n", ""),
        ("one line", "one line"),
        ("\n  first\nsecond\nthird", "first"),
        ("Traceback-like page\n" + "  detail\n" * 1000, "Traceback-like page"),
    ],
)
def test_the_first_line_of_a_message(message, line):
    assert first_line(ValueError(message)) == line


def test_an_exception_without_arguments_has_an_empty_first_line():
    assert first_line(KeyboardInterrupt()) == ""


def test_a_json_integer_of_thousands_of_digits_is_corrupt_json(tmp_path):
    """Python refuses to convert integers over 4,300 digits (ValueError, not JSONDecodeError)."""
    path = tmp_path / "config.json"
    path.write_text('{"seed": ' + "9" * 5000 + "}")
    with pytest.raises(DataError, match="config.json: corrupt JSON file"):
        read_json(path)


def test_one_line_escapes_what_would_act_on_a_terminal():
    from digitrec.errors import one_line

    assert one_line("a.png:\n  no such\tfile") == "a.png: no such file"
    assert one_line("x\x1b[31m.png") == "x\\x1b[31m.png"  # ESC: colours, cursor moves, titles
    assert one_line("bell\x07 del\x7f c1\x9b") == "bell\\x07 del\\x7f c1\\x9b"
    assert one_line("evil\u202egnp.exe") == "evil\\u202egnp.exe"  # a bidirectional override
    assert one_line("café 数字 ✓") == "café 数字 ✓"  # printable text stays as it is


def test_a_name_the_terminal_cannot_encode_is_escaped_not_a_crash(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "café\x1b[2J.png"
    bad.write_bytes(b"not an image")
    env = {"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "digitrec", "predict", str(bad)], capture_output=True, env=env, timeout=120
    )
    assert result.returncode == 1
    err = result.stderr.decode("ascii")
    assert err.count("\n") == 1 and "internal error" not in err and "\x1b" not in err
    assert "caf\\xe9\\x1b[2J.png" in err


def test_an_unknown_keras_backend_is_one_line_before_anything_is_written(tmp_path):
    import subprocess
    import sys

    env = {"KERAS_BACKEND": "bogus", "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "digitrec", "train", "--out", str(out), "--epochs", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1 and not out.exists()
    assert (
        result.stderr
        == "digitrec: error: KERAS_BACKEND='bogus' is not a Keras backend (tensorflow, jax, torch, numpy, openvino)\n"
    )
