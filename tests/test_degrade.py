"""The degradation augmentation layer against known answers: exact bilinear sampling, the identity at
inference and when every effect is off, wider strokes never lose ink, full contrast after blur and low
resolution, and a seeded layer repeating itself."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.nets.degrade import RandomDegrade, _bilinear


def grid(count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(np.arange(28.0), np.arange(28.0), indexing="ij")
    return (
        np.broadcast_to(rows, (count, 28, 28)).astype(np.float32),
        np.broadcast_to(cols, (count, 28, 28)).astype(np.float32),
    )


def test_bilinear_sampling_moves_and_splits_a_lit_pixel_exactly():
    images = np.zeros((2, 28, 28), np.float32)
    images[0, 10, 12] = 1.0
    images[1, 3, 4] = 1.0
    rows, cols = grid(2)
    same = np.asarray(_bilinear(images, rows, cols))
    np.testing.assert_allclose(same, images, atol=1e-6)
    moved = np.asarray(_bilinear(images, rows - 2, cols + 0.25))  # output (r, c) reads input (r - 2, c + 0.25)
    # Input column 12 is read by output column 12 (at 12.25: weight 0.75) and column 11 (at 11.25: 0.25).
    assert moved[0, 12, 12] == pytest.approx(0.75) and moved[0, 12, 11] == pytest.approx(0.25)
    assert moved[1, 5, 4] == pytest.approx(0.75) and moved[1, 5, 3] == pytest.approx(0.25)
    assert moved.sum() == pytest.approx(2.0)
    outside = np.asarray(_bilinear(images, rows + 40, cols))
    assert not outside.any()  # zero outside the image, not clamped edges


@pytest.fixture(scope="module")
def digits(mnist):
    return (mnist.x_test[:64].astype(np.float32) / 255.0)[..., None]


def test_identity_at_inference_and_when_off(digits):
    layer = RandomDegrade(stroke=1, blur=1, lowres=1, elastic=30, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(digits, training=False)), digits)
    np.testing.assert_allclose(np.asarray(RandomDegrade(seed=0)(digits, training=True)), digits, atol=1e-6)


def test_wider_strokes_only_add_ink(digits):
    wide = np.asarray(RandomDegrade(stroke=1.0, seed=1)(digits, training=True))
    assert (wide >= digits - 1e-6).all() and (wide.sum(axis=(1, 2, 3)) > 1.3 * digits.sum(axis=(1, 2, 3))).all()


@pytest.mark.parametrize("effect", ["blur", "lowres"])
def test_blur_and_low_resolution_keep_full_contrast_and_change_the_digit(digits, effect):
    out = np.asarray(RandomDegrade(**{effect: 1.0}, seed=2)(digits, training=True))
    np.testing.assert_allclose(out.max(axis=(1, 2, 3)), 1.0, atol=1e-5)
    assert np.abs(out - digits).mean() > 0.02 and out.min() >= 0.0


def test_elastic_moves_a_quarter_of_the_batch_and_keeps_the_rest(digits):
    out = np.asarray(RandomDegrade(elastic=34, seed=3)(digits, training=True))
    changed = np.abs(out - digits).reshape(len(digits), -1).max(axis=1) > 1e-4
    assert changed[:16].mean() > 0.8 and not changed[16:].any()


def test_a_seeded_layer_repeats_itself_and_round_trips_its_config(digits):
    first = RandomDegrade(stroke=0.5, blur=0.5, lowres=0.5, elastic=20, seed=7)
    second = RandomDegrade.from_config(first.get_config())
    np.testing.assert_allclose(
        np.asarray(first(digits, training=True)), np.asarray(second(digits, training=True)), atol=1e-6
    )
