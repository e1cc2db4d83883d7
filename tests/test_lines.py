"""Lines of digits composed for the number reader: the digits in order, the spacing each kind promises,
the paper's lines, and bad input refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitrec.data.lines import GAPS, KINDS, MAX_DIGITS, Style, compose
from digitrec.errors import DataError


def bar(width: int = 4) -> np.ndarray:
    """A digit-like block of ink: 20 px high, `width` wide, in a 28×28 MNIST frame."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12 : 12 + width] = 255
    return digit


def components(line_image: np.ndarray) -> int:
    ink = (line_image < 128).astype(np.uint8)
    return cv2.connectedComponents(ink, connectivity=8)[0] - 1


def columns_with_ink(line_image: np.ndarray) -> np.ndarray:
    return (line_image < 128).any(axis=0)


@pytest.mark.parametrize("count", [1, 3, 7])
def test_spaced_digits_stay_apart_and_touching_ones_join(count):
    digits, labels = np.stack([bar()] * count), np.arange(count)
    rng = np.random.default_rng(count)
    spaced = compose(digits, labels, Style(gap=GAPS["spaced"], scale_jitter=0), rng, photo=False)
    assert spaced.label == "".join(map(str, range(count)))
    assert components(spaced.image) == count
    touching = compose(digits, labels, Style(gap=(-2, -1), scale_jitter=0, baseline_jitter=0), rng, photo=False)
    assert components(touching.image) == 1
    # spaced: each gap at least 5 px of blank paper between neighbours
    runs = np.diff(np.flatnonzero(np.diff(columns_with_ink(spaced.image).astype(int))))
    assert all(gap >= 5 for gap in runs[1::2])


def test_a_line_is_dark_on_light_and_as_wide_as_its_digits_need():
    rng = np.random.default_rng(0)
    line = compose(np.stack([bar()] * 5), np.zeros(5, int), "tight", rng)
    assert line.image.dtype == np.uint8 and line.image.ndim == 2
    assert np.median(line.image) > 150  # paper
    assert line.image.min() < 110  # ink
    assert line.kind == "tight"
    assert line.image.shape[1] < 5 * 20 + 2 * 10 + 40  # five 4-px digits, gaps of ≤ 3 px, padding


def test_boxed_lines_draw_one_box_per_digit():
    rng = np.random.default_rng(1)
    line = compose(np.stack([bar(2)] * 4), np.arange(4), Style(gap=GAPS["spaced"], paper="boxed"), rng, photo=False)
    ink = line.image < 230
    rule_rows = np.flatnonzero(ink.mean(axis=1) > 0.8)  # a box's top and bottom run the whole line
    assert len(rule_rows) >= 2
    verticals = np.flatnonzero(ink[rule_rows[0] + 2 : rule_rows[-1] - 1].all(axis=0))
    assert len(verticals) == 8  # left and right edge of each of the four boxes


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_composes_real_looking_lines(kind, mnist):
    rng = np.random.default_rng(7)
    picks = rng.integers(0, len(mnist.x_train), 6)
    line = compose(mnist.x_train[picks], mnist.y_train[picks], kind, rng)
    assert line.label == "".join(map(str, mnist.y_train[picks]))
    assert 40 <= line.image.shape[0] <= 60 and line.image.shape[1] >= 60


def test_bad_input_is_one_data_error():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="unknown kind"):
        compose(np.stack([bar()]), np.zeros(1, int), "wavy", rng)
    with pytest.raises(DataError, match="uint8 digits"):
        compose(np.zeros((2, 28, 28), np.float32), np.zeros(2, int), "tight", rng)
    with pytest.raises(DataError, match="uint8 digits"):
        compose(np.zeros((2, 28, 28), np.uint8), np.zeros(3, int), "tight", rng)
    with pytest.raises(DataError, match=f"1 to {MAX_DIGITS} digits"):
        compose(np.zeros((0, 28, 28), np.uint8), np.zeros(0, int), "tight", rng)
