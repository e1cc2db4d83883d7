"""`digitrec serve --workers N`: N server processes on one port.

One process is bound by Python's GIL (its event loop and its recognition threads take turns), so a
multi-core machine needs processes. Each worker listens on its own socket bound to the same port with
SO_REUSEPORT, so the kernel spreads new connections over the workers evenly. A single listening socket
shared by all workers (uvicorn's `--workers`) lets whichever worker wakes first accept every waiting
connection: measured on 2 cores with 16 keep-alive clients, 458 requests/s in one round and 228 in the
next, as the connections happened to fall.

The parent holds the port (bound with SO_REUSEPORT, never listening, so it receives no connections) and
loads no model: it starts the workers, waits until each is listening with its model loaded (a worker
that cannot load it sends the one-line reason, which becomes the parent's error), and then supervises:
a worker that exits is replaced, unless it had run for under `CRASH_LOOP_SECONDS` (then the server
stops, with one line, rather than restart a crash forever). SIGINT and SIGTERM stop the workers
gracefully.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from digitrec.errors import ConfigError, DigitrecError
from digitrec.fileio import held_lock

START_TIMEOUT = 300.0  # seconds for a worker to import everything and load its model
CRASH_LOOP_SECONDS = 10.0
_STOP_TIMEOUT = 30.0


def listening_socket(family: int, address: tuple, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A TCP socket bound to `address` (SO_REUSEPORT when asked), listening unless `listen` is False."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted connections inherit this; without it a response written as head, then body, waits
        # for the client's delayed ACK (~40 ms; asyncio sets it only on sockets it created itself).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        if listen:
            sock.listen(2048)  # connections queue from now on, so a URL printed now works at once
    except BaseException:
        sock.close()
        raise
    return sock


def run(held: socket.socket, workers: int, app_settings: dict, server_options: dict, on_ready: Callable) -> int:
    """Serve from `workers` processes on `held`'s port until SIGINT or SIGTERM; `on_ready(model_name)`
    once all of them listen. Returns 0 after a signal; a worker that cannot start, or crash-loops, is a
    `ConfigError`."""
    with _port_lock(held.getsockname()):
        return _run(held, workers, app_settings, server_options, on_ready)


@contextlib.contextmanager
def _port_lock(address: tuple) -> Iterator[None]:
    """SO_REUSEPORT lets any process of the same user bind the port too: a second `--workers` server on it
    would start without a word and take half the connections. So the port is also held by a lock file,
    which the system releases when the holder ends, however it ends."""
    host, port = address[:2]
    name = f"serve-{host}-{port}.lock".replace(":", "_")
    busy = f"cannot listen on {host}:{port}: another digitrec server with --workers holds it"
    with held_lock(_lock_dir() / name, busy, f"cannot lock {host}:{port}", ConfigError, mode=0o600):
        yield


def _lock_dir() -> Path:
    """This user's own directory for the lock files. SO_REUSEPORT shares a port only between sockets of one
    user, so a lock per user is enough, and in a private directory no other user can create the lock file
    first (which would refuse every server on that port) or plant a link in its place."""
    directory = Path(tempfile.gettempdir()) / f"digitrec-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ConfigError(f"cannot lock the port: {directory} is not a private directory of this user")
    return directory


def _run(held: socket.socket, workers: int, app_settings: dict, server_options: dict, on_ready: Callable) -> int:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or state forked
    ready = context.Queue()
    args = (held.family, held.getsockname(), app_settings, server_options, ready)

    def start() -> tuple[Any, float]:
        process = context.Process(target=_worker, args=args, name="digitrec-worker", daemon=True)
        process.start()
        return process, time.monotonic()

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    slots = [start() for _ in range(workers)]
    try:
        model_name = _wait_until_listening(slots, ready, stop)
        if stop.is_set():  # interrupted while the workers were starting
            return 0
        on_ready(model_name)
        while not stop.wait(0.5):
            for index, (process, started) in enumerate(slots):
                if process.is_alive():
                    continue
                if time.monotonic() - started < CRASH_LOOP_SECONDS:
                    why = _reported_error(ready) or f"a worker process exited {process.exitcode} soon after it started"
                    raise ConfigError(why)
                print(f"digitrec: worker {process.pid} exited ({process.exitcode}); starting another", file=sys.stderr)
                slots[index] = start()
        return 0
    finally:
        for process, _ in slots:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process, _ in slots:
            process.join(_STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_until_listening(slots: list, ready: Any, stop: threading.Event) -> str:
    """The model's name, once every worker has reported that it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    names: list[str] = []
    while len(names) < len(slots) and not stop.is_set():
        if time.monotonic() > deadline:
            raise ConfigError(f"the workers did not start within {START_TIMEOUT:.0f} s")
        try:
            outcome, detail = ready.get(timeout=0.5)
        except queue.Empty:
            dead = [process for process, _ in slots if not process.is_alive()]
            if dead:
                raise ConfigError(f"a worker process exited {dead[0].exitcode} while starting") from None
            continue
        if outcome == "error":
            raise ConfigError(detail)
        names.append(detail)
    return names[0] if names else ""


def _reported_error(ready: Any) -> str | None:
    """The last error a worker reported on `ready` since start-up, if any (replacements' "ready" notes,
    which nobody waits for, are dropped on the way)."""
    error = None
    with contextlib.suppress(queue.Empty):
        while True:
            outcome, detail = ready.get_nowait()
            if outcome == "error":
                error = detail
    return error


def _worker(family: int, address: tuple, app_settings: dict, server_options: dict, ready: Any) -> None:
    """One worker: its own socket on the shared port, its own app and model, uvicorn until SIGTERM."""
    import uvicorn  # noqa: PLC0415 (the parent never serves)

    from digitrec.serve import create_app  # noqa: PLC0415

    try:
        sock = listening_socket(family, address, reuse_port=True)
        app = create_app(**app_settings)
    except (DigitrecError, OSError) as exc:  # the user's to fix (a bad model, the port): one line upstairs
        ready.put(("error", str(exc)))
        sys.exit(1)  # the queue's feeder thread flushes the message before the process ends
    ready.put(("ready", app.state.predictor.name))
    uvicorn.Server(uvicorn.Config(app, **server_options)).run(sockets=[sock])
