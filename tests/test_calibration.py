"""Temperature scaling against known answers: the scaling itself, recovering a known temperature, and the
temperature baked into a model's last layer giving exactly the scaled probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import ModelError
from digitrec.training.calibration import apply_temperature, fit_temperature, log_loss, scaled


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_scaling_by_a_temperature():
    p = np.array([[0.5, 0.25, 0.25] + [0.0] * 7])
    np.testing.assert_allclose(scaled(p, 1.0), p, atol=1e-9)
    # T = 0.5 squares the probabilities before renormalising: 0.25, 0.0625, 0.0625 → 2/3, 1/6, 1/6.
    np.testing.assert_allclose(scaled(p, 0.5)[0, :3], [2 / 3, 1 / 6, 1 / 6], atol=1e-9)
    # T = 2: square roots: 0.7071, 0.5, 0.5 → 0.4142, 0.2929, 0.2929.
    # (the zeros count as 1e-12, whose square roots add 7e-6 of mass)
    np.testing.assert_allclose(scaled(p, 2.0)[0, :3], [0.41421356, 0.29289322, 0.29289322], atol=1e-5)
    assert scaled(p, 7.0).argmax() == p.argmax()


def test_the_fitted_temperature_is_the_one_that_made_the_overconfidence():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (20_000, 10))
    labels = np.array([rng.choice(10, p=row) for row in softmax(logits)])  # the true probabilities
    overconfident = softmax(logits * 2.5)  # a model with its logits 2.5× too large
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(2.5, rel=0.05)
    assert log_loss(scaled(overconfident, temperature), labels) < log_loss(overconfident, labels)
    assert fit_temperature(softmax(logits), labels) == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ModelError):
        fit_temperature(overconfident[:0], labels[:0])


def test_the_temperature_baked_into_the_last_layer_gives_the_scaled_probabilities():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10), keras.layers.Activation("softmax")]
    )
    x = np.random.default_rng(1).random((16, 28, 28, 1)).astype(np.float32)
    before = np.asarray(model(x))
    apply_temperature(model, 0.4)
    np.testing.assert_allclose(np.asarray(model(x)), scaled(before, 0.4), atol=1e-5)
    plain = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ModelError, match="softmax"):
        apply_temperature(plain, 0.5)
