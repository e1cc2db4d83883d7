"""The number reader's training lines: composed from a data set's training digits (`data.lines`), each
photographed, a share JPEG-compressed, and prepared by `imaging.line.to_line` exactly as a user's image
is; then batched by width. Numpy and OpenCV only (no Keras).

Training lines are fresh every epoch (seeded by the run's seed and the epoch, so a resumed run sees the
same ones), their digits each turned, sheared and scaled a little first: a fixed set of lines is learnt
by heart within a few epochs (training loss falling, validation flat). `LineMaker` makes the next
epoch's lines in background processes while the current epoch trains. Validation lines are made once,
from the held-out tenth of the digits, without the jitter."""

from __future__ import annotations

import functools
import io
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from digitrec.data.lines import compose
from digitrec.data.sources import load_dataset
from digitrec.errors import DataError, ModelError
from digitrec.fileio import atomic_path
from digitrec.imaging.line import LINE_HEIGHT, WIDTH_STEP, to_line

VAL_SHARE = 0.1  # the last tenth of the training digits make the validation lines (never MNIST test)
# The hard kinds more often: spacing is what a blob segmenter cannot do, and what the net must learn.
KIND_WEIGHTS = {"spaced": 1, "tight": 1.5, "touching": 2, "overlapping": 2, "ruled": 1, "squared": 1, "boxed": 1}
KIND_WEIGHTS["slanted"] = 1.5
LONG_SHARE = 0.12  # lines of 11–20 digits (kind "long"); the others 1–10
JPEG_SHARE = 0.3
BATCH = 32
BUCKET = 64  # batch widths are rounded up to a multiple of this: a few traced shapes, little padding
MAX_LABEL = 24
# Per-digit jitter of training lines: how far people's digits differ from MNIST's upright, centred ones.
TURN_DEGREES, SHEAR, SCALE = 10.0, 0.25, 0.12


@dataclass
class Lines:
    images: list[np.ndarray]  # uint8 (32, W): the reader's input × 255
    texts: list[str]
    kinds: list[str]


def _jitter(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each 28×28 digit turned, sheared and scaled about its centre by a random small amount."""
    out = np.empty_like(digits)
    centre = np.array([13.5, 13.5])
    for index, digit in enumerate(digits):
        angle = np.radians(rng.uniform(-TURN_DEGREES, TURN_DEGREES))
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        shear = np.array([[1.0, rng.uniform(-SHEAR, SHEAR)], [0.0, 1.0]])
        linear = turn @ shear @ np.diag(rng.uniform(1 - SCALE, 1 + SCALE, 2))
        matrix = np.hstack([linear, (centre - linear @ centre)[:, None]]).astype(np.float32)
        out[index] = cv2.warpAffine(digit, matrix, (28, 28), flags=cv2.INTER_LINEAR)
    return out


@functools.cache
def _digits(data_spec: str | None, validation: bool) -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset(data_spec, with_test=False)
    cut = int(len(data.x_train) * (1 - VAL_SHARE))
    part = slice(cut, None) if validation else slice(0, cut)
    return data.x_train[part], data.y_train[part]


def _make(args: tuple[tuple[int, ...], int, str | None, bool]) -> Lines:
    seed, count, data_spec, validation = args
    digits, labels = _digits(data_spec, validation)
    rng = np.random.default_rng(seed)
    kinds = list(KIND_WEIGHTS)
    weights = np.array([KIND_WEIGHTS[k] for k in kinds], float)
    made = Lines([], [], [])
    while len(made.images) < count:
        long = rng.random() < LONG_SHARE
        kind = "long" if long else str(rng.choice(kinds, p=weights / weights.sum()))
        picks = rng.integers(0, len(digits), int(rng.integers(11, 21)) if long else int(rng.integers(1, 11)))
        chosen = digits[picks] if validation else _jitter(digits[picks], rng)
        line = compose(chosen, labels[picks], kind, rng)
        image = line.image
        if rng.random() < JPEG_SHARE:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(50, 95)))
            image = np.asarray(Image.open(buffer))
        try:
            prepared = to_line(image)
        except DataError:  # a line whose ink the photograph lost: not a line a user would send
            continue
        made.images.append(np.round(prepared * 255).astype(np.uint8))
        made.texts.append(line.label)
        made.kinds.append(kind)
    return made


def _lower_priority() -> None:
    os.nice(10)  # the maker fills the time training leaves, rather than slowing it


class LineMaker:
    """Lines made in `workers` background processes: `submit` returns at once, `.result()` waits."""

    def __init__(self, data_spec: str | None, workers: int = 2):
        self.data_spec, self.workers = data_spec, workers
        # Spawned, not forked: the caller may have started TensorFlow, whose threads do not survive a fork.
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_lower_priority)

    def submit(self, count: int, seed: int, epoch: int, validation: bool) -> Future[Lines]:
        """`count` lines from the training (or validation) part of the digits; the same seed and epoch
        give the same lines."""
        shares = [count // self.workers + (i < count % self.workers) for i in range(self.workers)]
        jobs = [((seed, epoch, int(validation), i), n, self.data_spec, validation) for i, n in enumerate(shares)]
        parts = [self.pool.submit(_make, job) for job in jobs]
        joined: Future[Lines] = Future()

        def join(_: Future[Lines]) -> None:
            if all(part.done() for part in parts) and not joined.done():
                failed = next((part.exception() for part in parts if part.exception()), None)
                if failed is not None:
                    joined.set_exception(failed)
                    return
                done = [part.result() for part in parts]
                fields = ("images", "texts", "kinds")
                joined.set_result(Lines(*([x for part in done for x in getattr(part, f)] for f in fields)))

        for part in parts:
            part.add_done_callback(join)
        return joined

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> LineMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save_lines(path: Path, lines: Lines) -> None:
    with atomic_path(path, suffix=".npz") as partial:
        np.savez_compressed(
            partial,
            pixels=np.concatenate([im.ravel() for im in lines.images]),
            widths=np.array([im.shape[1] for im in lines.images]),
            texts=np.array(lines.texts),
            kinds=np.array(lines.kinds),
        )


def load_lines(path: Path) -> Lines:
    try:
        with np.load(path) as stored:
            ends = np.cumsum(stored["widths"] * LINE_HEIGHT)
            images = [a.reshape(LINE_HEIGHT, -1) for a in np.split(stored["pixels"], ends[:-1])]
            return Lines(images, [str(t) for t in stored["texts"]], [str(k) for k in stored["kinds"]])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: corrupt validation lines ({exc}); delete it to make them again") from None


def batches(lines: Lines, rng: np.random.Generator | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x, y) batches of lines of similar width (shuffled batch order with `rng`). y rows: [label length,
    column count, digits…]."""
    order = np.argsort([im.shape[1] for im in lines.images], kind="stable")
    groups = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    if rng is not None:
        rng.shuffle(groups)
    for group in groups:
        width = math.ceil(max(lines.images[i].shape[1] for i in group) / BUCKET) * BUCKET
        x = np.zeros((len(group), LINE_HEIGHT, width, 1), np.float32)
        y = np.zeros((len(group), 2 + MAX_LABEL), np.int32)
        for row, i in enumerate(group):
            image, text = lines.images[i], lines.texts[i]
            x[row, :, : image.shape[1], 0] = image / 255.0
            y[row, 0], y[row, 1] = len(text), width // WIDTH_STEP
            y[row, 2 : 2 + len(text)] = [int(c) for c in text]
        yield x, y


def as_floats(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [image.astype(np.float32) / 255.0 for image in images]


def worker_count() -> int:
    return max(1, min(4, os.cpu_count() or 1))
