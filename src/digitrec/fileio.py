"""Files in and out, safely: atomic writes (a reader sees the old file or the complete new one, never half
of one), stale temporaries cleaned, and capped reads of regular files only (no devices, FIFOs or
directories, nothing larger than the caller allows).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from digitrec.errors import DataError, DigitrecError, StorageError, first_line

PARTIAL = ".partial"  # every temporary written here carries it: `clean_partials` finds them by it
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    suffix: str = "",
    directory: bool = False,
    replaceable: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """Yield a temporary file (or directory) beside `path`; on success it replaces `path`, on error it is
    removed and `path` is left as it was.

    `suffix` lets writers that insist on an extension (Keras wants `.keras`) keep it. A directory cannot
    replace another in one rename, so an existing target directory is moved aside first (a tiny gap); it
    must be empty or pass `replaceable` (what the writer itself wrote there before), so that a mistyped
    output never takes a folder of the user's with it. Devices, FIFOs and sockets are never replaced. A
    symbolic link is followed, as `open(path, "w")` would: the file it names is replaced, the link stays.
    """
    target = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    # The temporary's name fits the system's 255 bytes whatever the target's (a 244-character one did not).
    prefix, tail = f".{target.name[:100]}.", f"{PARTIAL}{suffix}"
    check_replaceable(target, directory, replaceable)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=tail, dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=tail, dir=target.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as exc:
        raise StorageError(f"{target}: cannot write ({exc.strerror or exc})") from None
    tmp.chmod((0o777 if directory else 0o666) & ~_UMASK)  # mkstemp/mkdtemp make it private
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise StorageError(
                    f"{target}: disk full while writing ({exc.strerror}); nothing was replaced"
                ) from None
            raise
        if target.is_dir():
            old = target.with_name(f".{target.name}.old{PARTIAL}-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    finally:
        _remove(tmp)


def check_replaceable(
    path: str | os.PathLike, directory: bool = False, replaceable: Callable[[Path], bool] | None = None
) -> None:
    """`StorageError` unless `atomic_path(path, directory=directory, replaceable=replaceable)` could write
    there: for a writer of several files, to check them all before it writes the first."""
    target = Path(path)
    blocking = next((p for p in (target.parent, *target.parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise StorageError(f"{target}: cannot write there, {blocking} is a file, not a directory")
    if not target.exists():
        return
    mode = target.stat().st_mode
    kind = "directory" if directory else "file"
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise StorageError(f"{target}: not a regular file (a device, FIFO or socket); write to a file instead")
    there = "directory" if stat.S_ISDIR(mode) else "file"
    if there != kind:
        raise StorageError(f"{target}: is a {there}; it is not replaced by a {kind}")
    if there == "directory" and any(target.iterdir()) and not (replaceable and replaceable(target)):
        raise StorageError(f"{target}: a directory holding other files; it is not replaced (choose a new path)")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_partials(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed writer left in `directory` (not recursive); returns them."""
    directory = Path(directory)
    stale = list(directory.glob(f".*{PARTIAL}*")) if directory.is_dir() else []
    for path in stale:
        _remove(path)
    return stale


LOCK = ".lock"  # the lock file of a directory with one writer (a run directory)


@contextlib.contextmanager
def held_lock(
    path: str | os.PathLike, busy: str, unopened: str, error: type[DigitrecError] = StorageError, mode: int = 0o644
) -> Iterator[None]:
    """Hold the kernel's exclusive lock (flock) on the file `path` (created if missing) for the block, or
    raise `error(busy)` at once when another process holds it (`error(unopened: reason)` when the file
    cannot be opened). The lock goes with the open file, so a process that dies releases it; the file
    stays, harmless. Symbolic links are not followed."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        raise error(f"{unopened}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise error(busy) from None
        yield
    finally:
        os.close(fd)


def one_writer(directory: str | os.PathLike, what: str = "run") -> contextlib.AbstractContextManager[None]:
    """Hold `directory`'s lock while writing it: a second writer (a second `train --resume` of the same run)
    gets one line instead of interleaving its epochs with the first's."""
    busy = f"{directory}: another process is training this {what} now (wait for it to end, or stop it first)"
    return held_lock(Path(directory) / LOCK, busy, f"{directory}: cannot write")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def check_regular(
    path: str | os.PathLike, what: str = "file", error: type[DigitrecError] = DataError
) -> os.stat_result:
    """`error` (a `DataError` by default) unless `path` is an existing regular file (symlinks followed):
    devices, FIFOs, sockets and directories are refused before they are opened, so nothing blocks or
    reads without end."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, TypeError):  # a NUL byte in the name, or no path at all
        raise error(f"{path!r}: not a usable file path") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a device, FIFO or socket)")
    return info


def read_capped(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `max_bytes`; anything else is a one-line `DataError`."""
    info = check_regular(path, what)
    if info.st_size > max_bytes:
        raise DataError(f"{path}: {info.st_size:,} bytes, more than the {max_bytes:,} allowed for a {what}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise DataError(f"{path}: more than the {max_bytes:,} bytes allowed for a {what}")
    return data


def read_json(path: str | os.PathLike, max_bytes: int = 1 << 20, what: str = "JSON file") -> Any:
    """A small JSON file, refused in one line when it is missing, too large or not JSON."""
    data = read_capped(path, max_bytes, what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: corrupt {what} ({exc})") from None
    except RecursionError:  # [[[[… nested deeper than the parser's stack, well within the size cap
        raise DataError(f"{path}: corrupt {what} (nested too deeply)") from None
    except ValueError as exc:  # an integer of more digits than Python converts (4,300)
        raise DataError(f"{path}: corrupt {what} ({first_line(exc)[:100]})") from None
