"""Feeding training batches to `model.fit` without stalling the step.

Measured on the 2-core CPU (README, "Results"): given numpy arrays, Keras' array adapter sometimes runs
an epoch on ~1.1 cores instead of ~1.7 (the same epoch takes 21 s instead of 13 s, at random from one
model to the next), and a `keras.utils.PyDataset` always does. A `tf.data` pipeline that shuffles,
batches and prefetches in TensorFlow's own threads keeps both cores busy every time. Other backends get
the arrays as they are.
"""

from __future__ import annotations

import keras


def fit_arguments(train: tuple, validation: tuple | None, batch_size: int, seed: int) -> dict:
    """`model.fit` keyword arguments feeding `train` = (x, y) shuffled (with `seed`) in batches of
    `batch_size`, and `validation` = (x, y) or None in order."""
    if keras.backend.backend() != "tensorflow":
        return {"x": train[0], "y": train[1], "batch_size": batch_size, "shuffle": True,
                "validation_data": validation}
    import tensorflow as tf  # noqa: PLC0415 (only on the TensorFlow backend)

    def batches(arrays: tuple, shuffle: bool):
        dataset = tf.data.Dataset.from_tensor_slices(arrays)
        if shuffle:
            dataset = dataset.shuffle(len(arrays[0]), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return {"x": batches(train, shuffle=True), "shuffle": False,  # the dataset shuffles itself
            "validation_data": batches(validation, shuffle=False) if validation is not None else None}
