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
