"""The `digitrec` command: a thin layer over the library. Each subcommand lives in its own module with
`add_parser(subparsers)` and `run(args) -> int`; errors are caught here, once, and printed in one line.

Exit codes: 0 success, 1 bad data/model/run (DigitrecError), 2 usage error (argparse, UsageError),
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import os
import pkgutil
import select
import sys

from digitrec._version import __version__
from digitrec.cli._backend import quiet_backend, start_backend_quietly
from digitrec.errors import DigitrecError, UsageError, first_line, one_line

# Subcommands are the `*_cmd` modules of this package, listed in --help in this order (others after).
ORDER = ("train", "evaluate", "submit", "predict", "serve", "export", "info")


def commands() -> list[str]:
    found = {m.name.removesuffix("_cmd") for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd")}
    return sorted(found, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digitrec", description="Handwritten-digit recognition with Keras.")
    parser.add_argument("--version", action="version", version=f"digitrec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in commands():
        module = importlib.import_module(f"digitrec.cli.{name}_cmd")
        # A command that can run without Keras/TensorFlow (an ONNX model) says so with needs_backend(args).
        module.add_parser(sub).set_defaults(
            handler=module.run, needs_backend=getattr(module, "needs_backend", lambda _args: True)
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_backend()
    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks is escaped, not a crash
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError):
                stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        if args.needs_backend(args):
            start_backend_quietly()
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # here, where a reader that went away is caught, not at the interpreter's exit
        return code
    except BrokenPipeError as exc:
        if not _stdout_gone():  # another pipe or socket broke: an error like any other OSError
            return _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")
        # `digitrec predict … | head`: the reader has all it wanted; nobody to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet too
        return 1
    except UsageError as exc:
        return _fail(str(exc), code=2)
    except DigitrecError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("digitrec: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return _fail("out of memory")
    except OSError as exc:  # the system refused a read or write that no library check anticipated
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except Exception as exc:  # a bug: still one line for the user; the traceback with --verbose
        if args.verbose:
            raise
        return _fail(
            f"internal error ({type(exc).__name__}: {first_line(exc)[:200]}); "
            "run with --verbose for the traceback and please report it"
        )


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or no file descriptor: cannot tell
        return False


def _fail(message: str, code: int = 1) -> int:
    print(f"digitrec: error: {one_line(message)}", file=sys.stderr)
    return code
