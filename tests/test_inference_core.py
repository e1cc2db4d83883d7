"""The numpy-only predictor core against known answers: exact pixel shifts, exact means of fake members and
views, input and output checks. Fake models make every expected number computable by hand."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import DataError, ModelError
from digitrec.inference.core import TTA_SHIFTS, Predictor, check_probabilities, model_input, shift


def lit(row: int, col: int, count: int = 1) -> np.ndarray:
    """`count` float images (28, 28, 1), black but for one white pixel."""
    images = np.zeros((count, 28, 28, 1), np.float32)
    images[:, row, col, 0] = 1.0
    return images


class Constant:
    """A fake member that answers the same probabilities for every image."""

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, np.float32)
        self.batches: list[int] = []

    def __call__(self, batch):
        self.batches.append(len(batch))
        return np.tile(self.probabilities, (len(batch), 1))


class WhereIsTheLight:
    """A fake member whose answer says where the brightest pixel is: digit = row % 10 with certainty."""

    def __call__(self, batch):
        flat = batch.reshape(len(batch), -1).argmax(axis=1)
        return np.eye(10, dtype=np.float32)[(flat // 28) % 10]


@pytest.mark.parametrize("dy, dx", [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (3, -2), (-27, 27)])
def test_shift_moves_a_lit_pixel_exactly(dy, dx):
    moved = shift(lit(10, 12), dy, dx)
    expected = np.zeros_like(moved)
    if 0 <= 10 + dy < 28 and 0 <= 12 + dx < 28:
        expected[0, 10 + dy, 12 + dx, 0] = 1.0
    np.testing.assert_array_equal(moved, expected)


def test_shift_fills_with_background_and_drops_what_leaves():
    image = np.arange(28 * 28, dtype=np.float32).reshape(1, 28, 28, 1) + 1
    down = shift(image, 1, 0)
    assert (down[0, 0] == 0).all()  # the new top row is background
    np.testing.assert_array_equal(down[0, 1:], image[0, :-1])
    right = shift(image, 0, 2)
    assert (right[0, :, :2] == 0).all()
    np.testing.assert_array_equal(right[0, :, 2:], image[0, :, :-2])


def test_tta_views_are_the_image_and_four_one_pixel_shifts():
    assert sorted(TTA_SHIFTS) == sorted([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)])


def test_tta_averages_the_answers_of_exactly_the_shifted_views():
    # A pixel on row 14: the views see it on rows 13, 15 (one each) and 14 (three: itself and the two
    # sideways shifts), so the mean answer is 3/5 for digit 4, 1/5 each for 3 and 5.
    predictor = Predictor([WhereIsTheLight()], "light", probe=False)
    probabilities = predictor.predict_proba(lit(14, 7), tta=True)[0]
    expected = np.zeros(10, np.float32)
    expected[[3, 4, 5]] = [0.2, 0.6, 0.2]
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict_proba(lit(14, 7))[0], np.eye(10)[4], atol=1e-6)


def test_an_ensemble_is_the_mean_of_its_members():
    first = Constant([0.7, 0.1, 0.2] + [0.0] * 7)
    second = Constant([0.1, 0.1, 0.0, 0.8] + [0.0] * 6)
    probabilities = Predictor([first, second], "pair").predict_proba(np.zeros((3, 28, 28), np.uint8))
    np.testing.assert_allclose(probabilities, np.tile([0.4, 0.1, 0.1, 0.4] + [0.0] * 6, (3, 1)), atol=1e-6)


def test_an_ensemble_with_tta_averages_members_and_views_alike():
    light, fixed = WhereIsTheLight(), Constant(np.eye(10)[9])
    probabilities = Predictor([light, fixed], "mixed", probe=False).predict_proba(lit(14, 7), tta=True)[0]
    expected = np.zeros(10)
    expected[[3, 4, 5, 9]] = [0.1, 0.3, 0.1, 0.5]
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


@pytest.mark.parametrize("count, batch_size, batches", [(0, 4, []), (1, 4, [1]), (4, 4, [4]), (9, 4, [4, 4, 1])])
def test_images_go_to_the_models_in_batches_and_come_back_in_order(count, batch_size, batches):
    member = WhereIsTheLight()
    calls = Constant(np.eye(10)[0])
    images = np.concatenate([lit(row, 0) for row in range(count)]) if count else np.zeros((0, 28, 28, 1), np.float32)
    probabilities = Predictor([member, calls], "order", probe=False).predict_proba(images, batch_size=batch_size)
    assert probabilities.shape == (count, 10) and probabilities.dtype == np.float32
    assert calls.batches == batches
    for row in range(count):
        assert probabilities[row, row % 10] == pytest.approx(0.5 + (0.5 if row % 10 == 0 else 0.0))


def test_model_input_scales_uint8_and_keeps_unit_floats():
    images = np.array([[[0, 51] + [0] * 26] + [[255] * 28] * 27], np.uint8)
    x = model_input(images)
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32
    assert x[0, 0, 1, 0] == pytest.approx(0.2) and x[0, 1, 0, 0] == 1.0 and x[0, 0, 0, 0] == 0.0
    floats = np.full((2, 28, 28, 1), 0.5, np.float64)
    np.testing.assert_array_equal(model_input(floats), floats.astype(np.float32))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 28, 28), np.float32), "must be uint8"),
        (np.zeros((2, 28, 28), np.int64), "must be uint8"),
        (np.full((1, 28, 28, 1), 2.0), r"in \[0, 1\]"),
        (np.full((1, 28, 28, 1), np.nan), r"in \[0, 1\]"),
        (np.zeros((1, 28, 28, 1), np.uint8), "expected uint8 images"),
        (np.zeros((28, 28), np.uint8), "expected uint8 images"),
        (np.zeros((1, 32, 32), np.uint8), "expected uint8 images"),
    ],
)
def test_model_input_refuses_what_is_not_mnist_format(images, message):
    with pytest.raises(DataError, match=message):
        model_input(images)


@pytest.mark.parametrize(
    "output, message",
    [
        (np.full((2, 10), 0.1), None),
        (np.full((2, 10), 0.2), "not probabilities"),
        (np.full((2, 10), np.nan), "not probabilities"),
        (np.array([[1.5, -0.5] + [0.0] * 8] * 2), "not probabilities"),
        (np.full((2, 9), 1 / 9), "shape"),
        (np.full((3, 10), 0.1), "shape"),
    ],
)
def test_outputs_must_be_probabilities(output, message):
    if message is None:
        assert check_probabilities(output, 2, "m").dtype == np.float32
    else:
        with pytest.raises(ModelError, match=message):
            check_probabilities(output, 2, "m")


def test_a_model_that_is_not_a_softmax_classifier_fails_when_loaded():
    with pytest.raises(ModelError, match="not probabilities"):
        Predictor([Constant(np.ones(10))], "logits")
    with pytest.raises(ModelError, match=r"shape \(2, 10\)"):
        Predictor([Constant(np.full(5, 0.2))], "five classes")

    def crashes(batch):
        raise ValueError("incompatible shapes: [2,28,28,1] vs [2,32,32,3]")

    with pytest.raises(ModelError, match="cannot run on"):
        Predictor([crashes], "crash")
    with pytest.raises(ModelError, match="no models"):
        Predictor([], "empty")
