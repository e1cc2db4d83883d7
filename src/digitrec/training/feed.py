"""Feeding training batches to `model.fit` without stalling the step.

Measured on the 2-core CPU (`benchmarks/input_pipeline.py`): given numpy arrays, Keras' array adapter
now and then runs a whole epoch on about one core (42 s at 0.92 cores instead of ~21 s at 1.7, at random
from one model to the next; a `keras.utils.PyDataset` did so every time in a probe). A `tf.data` pipeline
that shuffles, batches and prefetches in TensorFlow's own threads kept both cores busy every time. Other
backends get the arrays as they are.
"""

from __future__ import annotations

import keras


def fit_arguments(train: tuple, validation: tuple | None, batch_size: int, seed: int) -> dict:
    """`model.fit` keyword arguments feeding `train` = (x, y) shuffled (with `seed`) in batches of
    `batch_size`, and `validation` = (x, y) or None in order."""
    if keras.backend.backend() != "tensorflow":
        return {"x": train[0], "y": train[1], "batch_size": batch_size, "shuffle": True, "validation_data": validation}
    import tensorflow as tf  # noqa: PLC0415 (only on the TensorFlow backend)

    def batches(arrays: tuple, shuffle: bool):
        dataset = tf.data.Dataset.from_tensor_slices(arrays)
        if shuffle:
            dataset = dataset.shuffle(len(arrays[0]), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return {
        "x": batches(train, shuffle=True),
        "shuffle": False,  # the dataset shuffles itself
        "validation_data": batches(validation, shuffle=False) if validation is not None else None,
    }
