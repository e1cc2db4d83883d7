"""Native libraries (TensorFlow's and Ray's C++ cores) print start-up lines straight to file descriptor 2
that read like errors to a CLI user ("failed call to cuInit", "Token authentication is enabled…").
`stderr_silenced` closes fd 2 around such a start-up; Python exceptions still surface (raised, not printed)."""

from __future__ import annotations

import contextlib
import os
import sys
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
