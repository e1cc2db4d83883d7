"""Native libraries (TensorFlow's and Ray's C++ cores, libtiff) print lines straight to file descriptor 2
that read like errors to a CLI user ("failed call to cuInit", "Token authentication is enabled…").
`stderr_silenced` closes fd 2 around such a start-up; `stderr_captured` keeps what was printed, for a
one-line error to quote. Python exceptions still surface (raised, not printed)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def stderr_captured() -> Iterator[list[str]]:
    """Fd 2 redirected to a temporary file for the block (a C library's own diagnostics, libtiff's
    "ZIPDecode: Decoding error at scanline 117"); the list yielded holds its lines when the block ends,
    for a one-line error to quote instead of pages beside it."""
    sys.stderr.flush()
    lines: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += sink.read(64 * 1024).decode("utf-8", "replace").splitlines()
