"""Helpers shared by the tests: user-style renderings of real MNIST digits (photos, scans, drawings in every
common format), image encoding, and running the `digitrec` command in a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


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


def png_bytes(image: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- rendering


def ink_at(digit: np.ndarray, size: int) -> np.ndarray:
    """An MNIST digit scaled up to size×size as ink strength 0–1 (smooth edges, like a pen)."""
    return (
        np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), np.float32).clip(0, 255) / 255
    )


def on_canvas(ink: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Place `ink` at a random spot of a larger empty canvas (height, width)."""
    canvas = np.zeros(shape, np.float32)
    top = rng.integers(0, shape[0] - ink.shape[0] + 1)
    left = rng.integers(0, shape[1] - ink.shape[1] + 1)
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    if fmt == "PNG":
        options.setdefault("compress_level", 1)  # fast: noisy images compress slowly and to no avail
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def grey_image(levels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(levels, 0, 1) * 255).astype(np.uint8), "L")


def colour_image(ink: np.ndarray, ink_rgb, paper_rgb) -> Image.Image:
    ink = ink[..., None]
    rgb = np.asarray(ink_rgb, np.float32) * ink + np.asarray(paper_rgb, np.float32) * (1 - ink)
    return Image.fromarray(np.round(rgb).clip(0, 255).astype(np.uint8), "RGB")


def black_on_white_png(digit, rng):
    return encode(grey_image(1 - ink_at(digit, 300)), "PNG")


def off_centre_blue_pen_jpeg(digit, rng):
    ink = on_canvas(ink_at(digit, 200), (360, 480), rng)
    return encode(colour_image(ink, (20, 30, 120), (250, 250, 245)), "JPEG", quality=75)


def grey_noisy_uneven_jpeg(digit, rng):
    """A phone photo of paper: lit from one corner (grey 0.45 to 0.9), sensor noise, JPEG."""
    ink = on_canvas(ink_at(digit, 240), (320, 320), rng)
    rows, cols = np.mgrid[0:320, 0:320] / 320
    paper = 0.45 + 0.45 * (rows + cols) / 2
    levels = paper * (1 - ink) + 0.1 * ink + rng.normal(0, 0.04, ink.shape)
    return encode(grey_image(levels), "JPEG", quality=85)


def bold_strokes_png(digit, rng):
    bold = np.asarray(Image.fromarray(digit).filter(ImageFilter.MaxFilter(3)))
    return encode(grey_image(1 - ink_at(bold, 280)), "PNG")


def thin_pen_png(digit, rng):
    """Only the core of the strokes, hard-edged: a fine pen (strokes 1–1.5 px once scaled to 20 px).
    (Thinner cores than this break MNIST's strokes apart: no longer the same digit.)"""
    ink = (ink_at(digit, 400) > 0.75).astype(np.float32)
    return encode(grey_image(1 - ink), "PNG")


def dark_on_transparent_png(digit, rng):
    alpha = np.round(ink_at(digit, 280) * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(alpha, 30)] * 3 + [alpha])
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def white_on_transparent_png(digit, rng):
    """What a canvas drawing app exports: white strokes, transparent background."""
    alpha = np.round(ink_at(digit, 280) * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(alpha, 255)] * 3 + [alpha])
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def palette_gif(digit, rng):
    image = colour_image(on_canvas(ink_at(digit, 200), (260, 300), rng), (150, 20, 20), (250, 240, 200))
    return encode(image.quantize(colors=16), "GIF")


def chalk_on_board_png(digit, rng):
    """Light ink on a dark, noisy background."""
    ink = on_canvas(ink_at(digit, 220), (300, 300), rng)
    noise = rng.normal(0, 8, (*ink.shape, 1))
    image = np.asarray(colour_image(ink, (235, 235, 225), (30, 70, 40)), np.float32) + noise
    return encode(Image.fromarray(image.clip(0, 255).astype(np.uint8), "RGB"), "PNG")


def sixteen_bit_png(digit, rng):
    levels = np.round((1 - ink_at(digit, 300)) * 65535).astype(np.uint16)
    return encode(Image.fromarray(levels), "PNG")  # uint16 → mode I;16


def small_bmp(digit, rng):
    return encode(grey_image(1 - ink_at(digit, 56)), "BMP")


def lossy_webp(digit, rng):
    ink = on_canvas(ink_at(digit, 180), (240, 320), rng)
    return encode(colour_image(ink, (40, 40, 40), (235, 230, 220)), "WEBP", quality=50)


def mnist_itself_png(digit, rng):
    """An MNIST digit as it is: preparing it again must change next to nothing."""
    return encode(Image.fromarray(digit), "PNG")


RENDERINGS = [
    mnist_itself_png,
    black_on_white_png,
    off_centre_blue_pen_jpeg,
    grey_noisy_uneven_jpeg,
    bold_strokes_png,
    thin_pen_png,
    dark_on_transparent_png,
    white_on_transparent_png,
    palette_gif,
    chalk_on_board_png,
    sixteen_bit_png,
    small_bmp,
    lossy_webp,
]


def number_image(digits: list[np.ndarray], rng: np.random.Generator) -> bytes:
    """Real digits written side by side (as MNIST crops them: a few pixels apart), black on grey paper."""
    strip = np.hstack(digits).astype(np.float32) / 255
    ink = np.asarray(Image.fromarray(strip, "F").resize((strip.shape[1] * 8, 28 * 8), Image.Resampling.BICUBIC))
    ink = on_canvas(ink.clip(0, 1), (28 * 8 + 80, strip.shape[1] * 8 + 120), rng)
    return encode(grey_image(0.85 - 0.75 * ink + rng.normal(0, 0.02, ink.shape)), "PNG")


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
