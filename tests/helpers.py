"""Helpers shared by the tests: running the `digitrec` command in a subprocess, measuring a process tree's
memory, serving an app or the command on the loopback interface, and checking an API answer."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def digitrec(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """`python -m digitrec ARGS` in a fresh process, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "digitrec", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def train_args(
    shared_data: Path, out: Path | str, preset: str = "seed", epochs: int = 1, limit: int | str = 3000
) -> list[str]:
    """`digitrec train` arguments for a small run on real MNIST (the first `limit` training images)."""
    data = f"mnist:{shared_data / 'mnist'}"
    return [
        "train",
        "--data",
        data,
        "--preset",
        preset,
        "--epochs",
        str(epochs),
        "--limit",
        str(limit),
        "--out",
        str(out),
    ]


def _tree_rss_kib(root: int) -> int:
    """The summed VmRSS of `root` and all its descendants (e.g. a Ray driver, its raylet and workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError, ValueError, StopIteration):
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            total += int(next(line for line in lines if line.startswith("VmRSS:")).split()[1])
    return total


def run_measured(
    args: list[str],
    timeout: float = 60,
    memory_cap: int = 4 << 30,
    stdout_limit: int | None = None,
    tree: bool = False,
    **kwargs,
) -> dict:
    """Run a command under an address-space cap (TensorFlow alone maps ~3 GiB of address space) and a
    time cap; return its exit code, output, wall seconds and peak RSS in MiB.
    With `stdout_limit`, only that many bytes of stdout are returned, and `stdout_lines` counts them all.

    The peak is the process's VmHWM, read every 10 ms while it runs: wait4()'s ru_maxrss would count the
    forked copy of this (large) test process that existed before the exec. With `tree`, it is the largest
    summed RSS of the process and all its descendants, sampled every 0.2 s."""
    import os
    import resource
    import signal
    import tempfile
    import time

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(args, stdout=out, stderr=err, preexec_fn=limit, start_new_session=True, **kwargs)
        deadline = start + timeout
        peak_kib, next_tree_sample = 0, start
        while True:
            if tree and time.monotonic() >= next_tree_sample:
                peak_kib, next_tree_sample = max(peak_kib, _tree_rss_kib(process.pid)), time.monotonic() + 0.2
            with contextlib.suppress(OSError, ValueError, StopIteration):
                status_text = Path(f"/proc/{process.pid}/status").read_text()
                peak_kib = max(
                    peak_kib,
                    int(next(line for line in status_text.splitlines() if line.startswith("VmHWM:")).split()[1]),
                )
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, _ = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: out.read(1 << 20), b""))
        out.seek(0)
        stdout = out.read(-1 if stdout_limit is None else stdout_limit)
        return {
            "code": process.returncode,
            "stdout": stdout.decode(errors="replace"),
            "stdout_lines": lines,
            "stderr": err.read().decode(errors="replace"),
            "seconds": seconds,
            "peak_mib": peak_kib / 1024,
            "timed_out": seconds > timeout,
        }


@contextlib.contextmanager
def serving(app, **config) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1 (a free port); yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def child_pids(parent: int, command: bytes = b"") -> list[int]:
    """The live processes whose parent is `parent` (Linux /proc), optionally only those whose command line
    contains `command`."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent and (
                command in (stat.parent / "cmdline").read_bytes()
            ):
                pids.append(int(stat.parent.name))
    return pids


@contextlib.contextmanager
def serve_process(*args: str, log=None, env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`digitrec serve --port 0 ARGS` in a subprocess on 127.0.0.1 (with `env` added to this process's
    environment); yields (base URL, process)."""
    import re
    import threading

    process = subprocess.Popen(
        [sys.executable, "-m", "digitrec", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=log or subprocess.DEVNULL,
        text=True,
        env=os.environ | (env or {}),
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"no URL in {line!r}"
        # Keep reading the access log: once the pipe is full the server would block mid-request.
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        yield match.group(0), process
    finally:
        process.terminate()
        process.wait(timeout=30)


def check_prediction(response, expected_digit: int, model_name: str) -> dict:
    """A 200 answer of `POST /api/predict`, consistent in itself, naming `expected_digit` and the model."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] == expected_digit
    assert len(body["probabilities"]) == 10
    assert body["probabilities"][body["digit"]] == pytest.approx(body["confidence"])
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert body["confidence"] == max(body["probabilities"])
    assert body["model"] == model_name
    return body
