"""The training feed: every example once per epoch, shuffled reproducibly, validation in order."""

from __future__ import annotations

import numpy as np

from digitrec.training.feed import fit_arguments


def epoch_of(arguments: dict) -> tuple[np.ndarray, np.ndarray]:
    if "y" in arguments:  # a backend other than TensorFlow: the arrays themselves
        return arguments["x"], arguments["y"]
    xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in arguments["x"]))
    return np.concatenate(xs), np.concatenate(ys)


def test_each_example_once_per_epoch_in_a_seeded_order():
    x = np.arange(1000, dtype=np.float32).reshape(1000, 1, 1, 1)
    y = np.arange(1000) * 10
    val = (x[:70], y[:70])
    first = fit_arguments((x, y), val, batch_size=64, seed=3)
    assert first["shuffle"] is False or "y" in first  # the dataset shuffles itself; Keras must not warn
    xs, ys = epoch_of(first)
    assert sorted(xs.ravel().tolist()) == list(range(1000)) and (ys == xs.ravel() * 10).all()  # pairs kept
    assert (xs.ravel() != np.arange(1000)).any()  # shuffled
    again, _ = epoch_of(fit_arguments((x, y), val, batch_size=64, seed=3))
    other, _ = epoch_of(fit_arguments((x, y), val, batch_size=64, seed=4))
    assert (again == xs).all() and (other != xs).any()
    val_x, val_y = epoch_of(
        {"x": first["validation_data"]} if "y" not in first else dict(zip(("x", "y"), first["validation_data"]))
    )
    assert (val_x.ravel() == np.arange(70)).all() and (val_y == np.arange(70) * 10).all()
    assert fit_arguments((x, y), None, 64, 0)["validation_data"] is None
