"""The number reader's training lines: composed from a data set's training digits (`data.lines`), each
photographed, a share JPEG-compressed, and prepared by `imaging.line.to_line` exactly as a user's image
is; made once per run in parallel processes, then batched by width. Numpy only (no Keras)."""

from __future__ import annotations

import io
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Lines:
    images: list[np.ndarray]  # uint8 (32, W): the reader's input × 255
    texts: list[str]
    kinds: list[str]


def _make(args: tuple[int, int, str | None, bool]) -> Lines:
    seed, count, data_spec, validation = args
    data = load_dataset(data_spec, with_test=False)
    cut = int(len(data.x_train) * (1 - VAL_SHARE))
    part = slice(cut, None) if validation else slice(0, cut)
    digits, labels = data.x_train[part], data.y_train[part]
    rng = np.random.default_rng(seed)
    kinds = list(KIND_WEIGHTS)
    weights = np.array([KIND_WEIGHTS[k] for k in kinds], float)
    made = Lines([], [], [])
    while len(made.images) < count:
        long = rng.random() < LONG_SHARE
        kind = "long" if long else str(rng.choice(kinds, p=weights / weights.sum()))
        picks = rng.integers(0, len(digits), int(rng.integers(11, 21)) if long else int(rng.integers(1, 11)))
        line = compose(digits[picks], labels[picks], kind, rng)
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


def make_lines(count: int, seed: int, data_spec: str | None, validation: bool, workers: int = 2) -> Lines:
    """`count` lines from the training (or validation) part of the data's training digits, in `workers`
    processes; the same seed gives the same lines."""
    shares = [count // workers + (i < count % workers) for i in range(workers)]
    jobs = [(seed * 1000 + 100 * validation + i, n, data_spec, validation) for i, n in enumerate(shares)]
    # Spawned, not forked: the caller may have started TensorFlow, whose threads do not survive a fork.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as executor:
        parts = list(executor.map(_make, jobs))
    return Lines(*([x for part in parts for x in getattr(part, f)] for f in ("images", "texts", "kinds")))


def save_lines(path: Path, train: Lines, val: Lines) -> None:
    with atomic_path(path, suffix=".npz") as partial:
        np.savez_compressed(
            partial,
            pixels=np.concatenate([im.ravel() for im in train.images + val.images]),
            widths=np.array([im.shape[1] for im in train.images + val.images]),
            texts=np.array(train.texts + val.texts),
            kinds=np.array(train.kinds + val.kinds),
            count=len(train.images),
        )


def load_lines(path: Path) -> tuple[Lines, Lines]:
    try:
        with np.load(path) as stored:
            widths, count = stored["widths"], int(stored["count"])
            ends = np.cumsum(widths * LINE_HEIGHT)
            images = [a.reshape(LINE_HEIGHT, -1) for a in np.split(stored["pixels"], ends[:-1])]
            texts, kinds = [str(t) for t in stored["texts"]], [str(k) for k in stored["kinds"]]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: corrupt training lines ({exc}); delete it to make them again") from None
    return Lines(images[:count], texts[:count], kinds[:count]), Lines(images[count:], texts[count:], kinds[count:])


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
