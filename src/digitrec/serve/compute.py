"""Where a request's CPU work runs: right on the event loop when it is known to be small, else in a worker
thread.

Handing work to a worker thread and back costs more than a small request's work itself: a 150-px photo is
~1.5 ms of decoding, preprocessing and inference, and the hand-over (thread wake-ups, the GIL passed back
and forth with the event loop) added ~1.3 ms of server CPU per request at 16 clients and ~0.3 ms to one
client's latency (`benchmarks/serve_load.py`; docs/design.md). So the work runs inline when, before
anything is decoded, it is bounded:

- an image upload of at most `INLINE_BYTES` whose header declares at most `INLINE_PIXELS` (a phone crop,
  the drawing page's 140-px drawing): ≤ ~6 ms of decoding and preprocessing for the costliest such images
  measured (a busy 320-px RGBA PNG), ~1.5 ms for a typical one; or 28×28 pixels sent as JSON;
- and a predictor that answered one image within `QUICK_PREDICTOR_S` at start-up (the bundled ONNX model
  does; a Keras model or a large ensemble does not).

Everything else goes to a worker thread, at most one per core at once (`CpuWork.limiter`): a phone's
12-MP photo, an upload whose size the header does not tell, a hostile blank 36-MP PNG (0.8 s of CPU to
refuse) — none of them can stall the other connections.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import numpy as np

from digitrec import imaging
from digitrec.predict.reading import ProbabilityModel

INLINE_BYTES = 256 * 1024
INLINE_PIXELS = 320 * 320
QUICK_PREDICTOR_S = 0.003  # the bundled ONNX model: 0.3–0.6 ms; the same net as a Keras model: ~26 ms
MNIST_PIXELS = 28 * 28

T = TypeVar("T")


class CpuWork:
    """The app's policy for CPU-bound work (held in app state)."""

    def __init__(self, predictor: ProbabilityModel):
        self.limiter = anyio.CapacityLimiter(usable_cores())
        self.inline_pixels = INLINE_PIXELS if answers_quickly(predictor) else 0

    def pixels_of(self, data: bytes) -> int | None:
        """The pixels an uploaded image declares, when it is small enough in bytes to be worth asking."""
        return imaging.declared_pixels(data) if self.inline_pixels and len(data) <= INLINE_BYTES else None

    async def run(self, pixels: int | None, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)`, inline when it works on at most `inline_pixels` (known beforehand), else in a
        worker thread."""
        if pixels is not None and pixels <= self.inline_pixels:
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform tells it, as in a container
    pinned to some cores; else all of the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def answers_quickly(predictor: ProbabilityModel) -> bool:
    """Whether `predictor` (already warmed up) answers one image within `QUICK_PREDICTOR_S`: the best of
    five calls, so that a scheduling hiccup or two do not send every request to a worker thread."""
    blank = np.zeros((1, 28, 28), np.uint8)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        predictor.predict_proba(blank)
        best = min(best, time.perf_counter() - start)
    return best <= QUICK_PREDICTOR_S
