"""The one-line reports of other libraries' errors (`digitrec.errors.first_line`)."""

from __future__ import annotations

import pytest

from digitrec.errors import first_line


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
