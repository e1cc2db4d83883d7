"""RandomAffine: identity at inference and at zero strength; plausible, seeded transforms on real digits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from digitrec.data.prepare import normalize
from digitrec.nets.augment import RandomAffine

SIZE = 28


@pytest.fixture(scope="module")
def digits(mnist):
    return normalize(mnist.x_test[:256])


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """(N, 2) row/column centres of ink of (N, 28, 28, 1) images."""
    ink = images[..., 0]
    rows, cols = np.mgrid[:SIZE, :SIZE]
    mass = ink.sum(axis=(1, 2))
    return np.stack([(ink * rows).sum(axis=(1, 2)) / mass, (ink * cols).sum(axis=(1, 2)) / mass], axis=1)


def augment(layer, images, training=True) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(images, training=training))


def test_identity_at_inference():
    images = np.random.default_rng(0).random((4, SIZE, SIZE, 1), dtype=np.float32)
    np.testing.assert_array_equal(augment(RandomAffine(seed=1), images, training=False), images)


def test_identity_inside_a_model_at_predict():
    images = np.random.default_rng(1).random((3, SIZE, SIZE, 1), dtype=np.float32)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), RandomAffine(seed=1)])
    np.testing.assert_allclose(model.predict(images, verbose=0), images, atol=1e-6)


def test_zero_strength_is_identity_while_training():
    images = np.random.default_rng(2).random((4, SIZE, SIZE, 1), dtype=np.float32)
    out = augment(RandomAffine(rotation=0, zoom=0, shift=0, seed=3), images)
    np.testing.assert_allclose(out, images, atol=1e-5)


def test_real_digits_move_but_keep_ink_and_place(digits):
    out = augment(RandomAffine(rotation=10, zoom=0.1, shift=0.1, seed=4), digits)
    assert out.shape == digits.shape and out.dtype == digits.dtype
    changed = np.abs(out - digits).max(axis=(1, 2, 3)) > 0.1
    assert changed.mean() > 0.9
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6

    mass_ratio = out.sum(axis=(1, 2, 3)) / digits.sum(axis=(1, 2, 3))
    assert np.all((mass_ratio > 0.75) & (mass_ratio < 1.25)), (mass_ratio.min(), mass_ratio.max())

    moved = np.linalg.norm(centre_of_mass(out) - centre_of_mass(digits), axis=1)
    assert moved.max() <= 0.1 * SIZE + 2
    assert moved.mean() > 0.5  # shifts of up to ±2.8 px really happen


def test_same_seed_same_output(digits):
    batch = digits[:32]
    first = augment(RandomAffine(seed=7), batch)
    np.testing.assert_array_equal(augment(RandomAffine(seed=7), batch), first)
    assert not np.allclose(augment(RandomAffine(seed=8), batch), first)


def test_each_call_draws_new_transforms(digits):
    layer = RandomAffine(seed=7)
    batch = digits[:32]
    assert not np.allclose(augment(layer, batch), augment(layer, batch))


def test_config_round_trip():
    layer = RandomAffine(
        rotation=5, zoom=0.2, shift=0.05, fill_mode="nearest", interpolation="nearest", seed=9, name="aug"
    )
    config = layer.get_config()
    assert {k: config[k] for k in ("rotation", "zoom", "shift", "fill_mode", "interpolation", "seed")} == {
        "rotation": 5.0,
        "zoom": 0.2,
        "shift": 0.05,
        "fill_mode": "nearest",
        "interpolation": "nearest",
        "seed": 9,
    }
    assert RandomAffine.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomAffine) and restored.get_config() == config


def test_saved_model_keeps_the_layer(tmp_path):
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), RandomAffine(rotation=3, seed=2, name="aug")])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("aug"), RandomAffine)
    assert loaded.get_layer("aug").get_config() == model.get_layer("aug").get_config()
