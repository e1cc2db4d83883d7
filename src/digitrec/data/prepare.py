"""Turn validated uint8 arrays into model inputs: scale to 0–1, add the channel axis, one-hot, split.

Labels are one-hot float32, as in the seed notebook; it is what lets a recipe use label smoothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from digitrec.errors import DataError, first_line

NUM_CLASSES = 10


class Split(NamedTuple):
    """Train/validation arrays: uint8 images (N, 28, 28) and int labels."""

    x_train: np.ndarray
    x_val: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., np.newaxis]


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def split(images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int, limit: int | None = None) -> Split:
    """Stratified train/validation split of the first `limit` images (all when None), reproducible from
    `seed`; the inputs are untouched. Too few images to give every class a place on both sides is a
    `DataError`."""
    if limit:
        images, labels = images[:limit], labels[:limit]
    if val_fraction <= 0:
        return Split(images, images[:0], labels, labels[:0])
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 (slow import, needed only to train)

    try:
        return Split(*train_test_split(images, labels, test_size=val_fraction, random_state=seed, stratify=labels))
    except ValueError as exc:  # too few images, or a class with a single one
        raise DataError(
            f"{len(images)} images are too few for a stratified {val_fraction:.0%} validation split "
            f"({first_line(exc)}); use more (--limit) or another data set"
        ) from None
