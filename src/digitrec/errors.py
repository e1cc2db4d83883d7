"""The one exception hierarchy of digitrec; the CLI and the server catch `DigitrecError` once."""


class DigitrecError(Exception):
    """Base class: a problem the user can act on, reported in one line."""


class DataError(DigitrecError):
    """Input data is missing, malformed or out of range (files, CSV rows, images, requests)."""


class ModelError(DigitrecError):
    """A model or run directory is missing, incomplete or incompatible."""


class ConfigError(DigitrecError):
    """A recipe, preset or option value is invalid."""


class UsageError(ConfigError):
    """Command-line options that do not go together (the CLI exits 2, as for argparse's own checks)."""


class StorageError(DigitrecError):
    """Writing failed (disk full, read-only directory); what was there before is untouched."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, "" when it has none: for one-line reports of errors from
    other libraries, whose messages may span pages (or be empty)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def one_line(message: str) -> str:
    """A message as the one line the CLI prints: a file name or a value with a newline in it would
    otherwise break it (and a script reading stderr line by line), and one with a terminal's escape
    sequence (ESC, other control characters, bidirectional overrides) would act on the user's terminal:
    those are shown escaped, as \\x1b."""
    return "".join(c if c.isprintable() else _escaped(c) for c in " ".join(message.split()))


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
