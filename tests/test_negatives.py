"""`digitrec.data.negatives`: every kind of non-digit is drawn, photographed like a digit, from the split's
own material (what is measured on `test` is never drawn for `train`), the same for the same seed; and
the helpers that keep digit-like shapes out of the negatives (a straight stroke is a 1) answer right."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec import imaging
from digitrec.data import negatives
from digitrec.errors import DataError

DIGITS = np.zeros((4, 28, 28), np.uint8)
for i in range(4):  # four ring-like "digits": pieces of them are arcs, pairs are two rings
    rows, cols = np.mgrid[:28, :28]
    DIGITS[i][np.abs(np.hypot(rows - 14, cols - 14) - 7 - i % 2) < 1.5] = 255


@pytest.mark.parametrize("kind", negatives.KINDS)
@pytest.mark.parametrize("split", negatives.SPLITS)
def test_every_kind_is_a_photo_the_preparation_reads(kind, split):
    rng = np.random.default_rng(3)
    grey = negatives.draw(kind, rng, split, DIGITS)
    assert grey.dtype == np.uint8 and grey.ndim == 2 and min(grey.shape) >= 24
    # a photo: light paper around the marks (the border is brighter than the darkest marks)
    assert np.median(np.r_[grey[0], grey[-1]]) > grey.min() + 20 or kind == "natural"
    if kind in negatives.NEAR:  # marks like writing: the preparation finds them
        assert imaging.to_mnist(grey).shape == (28, 28)


def test_the_same_seed_draws_the_same_and_another_draws_another():
    first = [negatives.draw(k, np.random.default_rng(7), "val", DIGITS) for k in negatives.KINDS]
    again = [negatives.draw(k, np.random.default_rng(7), "val", DIGITS) for k in negatives.KINDS]
    other = [negatives.draw(k, np.random.default_rng(8), "val", DIGITS) for k in negatives.KINDS]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not any(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))


def test_the_test_split_draws_on_material_never_used_for_training():
    assert not set(negatives.FONTS["test"]) & (set(negatives.FONTS["train"]) | set(negatives.FONTS["val"]))
    assert not set(negatives.SYMBOLS["test"]) & set(negatives.SYMBOLS["train"] + negatives.SYMBOLS["val"])
    assert not set(negatives.PHOTOS["test"]) & (set(negatives.PHOTOS["train"]) | set(negatives.PHOTOS["val"]))
    assert not set(negatives.LETTERS) & set("OoIlSsZzBbGgq")  # letters a hand makes into digits


def test_straight_strokes_are_known_for_what_they_are():
    line = np.c_[np.arange(20.0), 2 * np.arange(20.0) + 0.01 * np.sin(np.arange(20.0))]
    angle = np.linspace(0, 2 * np.pi, 40)
    assert negatives.straight(line) and negatives.straight(line[:2])
    assert not negatives.straight(np.c_[np.cos(angle), np.sin(angle)] * 10)


def test_a_piece_keeps_part_of_a_digit_and_a_pair_holds_two():
    rng = np.random.default_rng(0)
    piece = negatives._piece(DIGITS, rng)
    whole = negatives._cropped(DIGITS[0].astype(np.float32))
    assert 0 < (piece > 128).sum() / 4 < (whole > 128).sum()  # 2× in each direction: ink × 4
    pair = negatives._pair(DIGITS, rng)
    assert pair.shape[1] > 1.5 * pair.shape[0]  # two rings side by side: wider than high


def test_bad_requests_are_one_line():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="unknown kind of non-digit 'cats'; known: letters"):
        negatives.draw("cats", rng)
    with pytest.raises(DataError, match="unknown split 'dev'"):
        negatives.draw("letters", rng, "dev")
    with pytest.raises(DataError, match="pairs are cut from digits: pass at least two"):
        negatives.draw("pairs", rng, "train", DIGITS[:1])
