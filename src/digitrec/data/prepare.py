"""Turn validated uint8 arrays into model inputs: scale to 0–1, add the channel axis, one-hot, split.

Labels are one-hot float32, as in the seed notebook; it is what lets a recipe use label smoothing.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 10


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., np.newaxis]


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def split(images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int):
    """Stratified train/validation split; returns x_train, x_val, y_train, y_val (inputs untouched)."""
    if val_fraction <= 0:
        return images, images[:0], labels, labels[:0]
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 (slow import, needed only to train)

    return train_test_split(images, labels, test_size=val_fraction, random_state=seed, stratify=labels)
