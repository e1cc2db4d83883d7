"""Known answers for fitting ink into MNIST's 28×28 frame (digitrec.imaging.fitting), written to kill the
mutants that `make mutation` found surviving: solid synthetic shapes whose every expected pixel and width
follows by hand from the documented rules."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import DataError
from digitrec.imaging.fitting import _stroke_width, fit_mnist

# ---------------------------------------------------------------------------------------------- fit_mnist
# Solid synthetic ink (1.0 on 0.0): every step is exact (crisp box averages, integer centres of mass), so the
# 28×28 result is known pixel for pixel. Python rounds halves to even: a centre of mass at 9.5 → top 4.


def fit(ink: np.ndarray) -> np.ndarray:
    ink = ink.astype(np.float32)
    return fit_mnist(ink, ink > 0)


def placed(shape: np.ndarray, top: int, left: int) -> np.ndarray:
    out = np.zeros((28, 28), np.uint8)
    out[top : top + shape.shape[0], left : left + shape.shape[1]] = np.where(shape > 0, 255, 0)
    return out


def canvas(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width), np.float32)


def t_shape() -> np.ndarray:
    """A 20×12 "T": a 4-px bar over a 1-px stem; mass centre (4.0, 5.375), stroke width 2.0 (MNIST-like)."""
    t = np.zeros((20, 12), np.float32)
    t[0:4, :] = 1
    t[4:, 5] = 1
    return t


def test_a_dot_becomes_the_20_px_box():
    dot = canvas(9, 9)
    dot[4, 4] = 1
    np.testing.assert_array_equal(fit(dot), placed(np.ones((20, 20)), 4, 4))


def test_an_mnist_like_shape_is_pasted_as_it_is_by_its_centre_of_mass():
    # 20 px high already (scale 1), stroke 2.0 within MNIST's range: unchanged. Centre of mass (4.0, 5.375)
    # → top round(10.0) = 10, clipped to 28 - 20 = 8; left round(8.625) = 9.
    ink = canvas(30, 30)
    ink[5:25, 5:17] = t_shape()
    assert _stroke_width(t_shape() > 0) == 2.0
    np.testing.assert_array_equal(fit(ink), placed(t_shape(), 8, 9))


def test_the_centre_of_mass_placement_is_clipped_to_the_canvas_on_every_side():
    t = t_shape()
    upside_down = t[::-1]  # mass centre row 15.0 → top round(-1.0) = -1, clipped to 0
    np.testing.assert_array_equal(fit(np.pad(upside_down, 5)), placed(upside_down, 0, 9))
    np.testing.assert_array_equal(fit(np.pad(t.T, 5)), placed(t.T, 9, 8))
    np.testing.assert_array_equal(fit(np.pad(upside_down.T, 5)), placed(upside_down.T, 9, 0))


def test_a_fine_pen_line_is_thickened_to_mnist_width():
    # 100×1: stroke 2·100/202 = 0.99 px, 0.198 at scale 0.2 < 1.15 → radius round(1.652 / 0.2 / 2) = 4:
    # 9 px wide, 108 high after padding → 2 × 20 px (round(9 · 20/108) = 2), centre (9.5, 0.5) → (4, 14).
    line = canvas(120, 30)
    line[10:110, 15] = 1
    np.testing.assert_array_equal(fit(line), placed(np.ones((20, 2)), 4, 14))
    # 30×1: stroke 0.645 at scale 2/3 → radius round(0.904) = 1: 3 wide, 32 high → 2 × 20 px
    short = canvas(50, 10)
    short[10:40, 5] = 1
    np.testing.assert_array_equal(fit(short), placed(np.ones((20, 2)), 4, 14))


def test_a_bar_of_mnist_width_stays_one_pixel_thick():
    # 100×7: stroke 2·700/214 = 6.54 px, 1.31 at scale 0.2: in range, kept. 7 · 0.2 = 1.4 → 1 px wide.
    bar = canvas(120, 30)
    bar[10:110, 10:17] = 1
    np.testing.assert_array_equal(fit(bar), placed(np.ones((20, 1)), 4, 14))
    np.testing.assert_array_equal(fit(bar.T.copy()), placed(np.ones((1, 20)), 14, 4))


def test_a_marker_ring_is_thinned_to_mnist_width():
    # 60×60 square ring, 15 px thick: stroke 2·2700/360 = 15, 5.0 at scale 1/3 > 3.2 → radius round(4.725) = 5:
    # the ring loses 5 px on each side (outer 50×50, 5 px thick) → 20×20 at scale 0.4, 2 px thick.
    ring = canvas(80, 80)
    ring[10:70, 10:70] = 1
    ring[25:55, 25:55] = 0
    expected = placed(np.ones((20, 20)), 4, 4)
    expected[6:22, 6:22] = 0
    np.testing.assert_array_equal(fit(ring), expected)


def test_thinning_that_would_erase_the_ink_leaves_it_as_it_was():
    # A 40×40 patch of 0.6 with a 0.4 pixel every 5 px: measured stroke 2·1536/416 · 0.5 = 3.69 > 3.2 →
    # radius 2, but every 5×5 window holds a 0.4 pixel: nothing above 0.5 would be left. The patch is kept
    # whole: the full 20×20 box, its texture showing (a thinned copy would be uniformly 0.4: all 255).
    patch = canvas(60, 60)
    patch[10:50, 10:50] = 0.6
    patch[12:50:5, 12:50:5] = 0.4
    out = fit(patch)
    rows, cols = np.nonzero(out)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 23, 4, 23)
    assert out[4:24, 4:24].min() < 255 and out.max() == 255


def test_ink_beyond_the_one_pixel_halo_of_the_mask_is_left_out():
    square = canvas(60, 60)
    square[10:50, 10:50] = 1
    mask = square > 0
    near = square.copy()
    near[10:50, 51] = 1  # two pixels right of the mask: not part of this digit
    np.testing.assert_array_equal(fit_mnist(near, mask), placed(np.ones((20, 20)), 4, 4))
    halo = square.copy()
    halo[10:50, 50] = 1  # right next to the mask: its anti-aliased edge, kept. 40×41: stroke 20.25 · 20/41 =
    # 9.88 → radius round(8.23) = 8 → 24×25 → 19×20 at scale 0.8, centre (9, 9.5) → (5, 4)
    np.testing.assert_array_equal(fit_mnist(halo, mask), placed(np.ones((19, 20)), 5, 4))


def test_the_halo_below_and_right_of_the_mask_is_kept():
    # A 20×2 bar with soft edges (0.4) two pixels deep below it and to its right, halo 2: the crop is 22×4,
    # scaled to 20×4 (round(4·20/22) = 4); the last rows and columns are the soft edge's grey, not cut off.
    ink = canvas(40, 20)
    ink[5:25, 5:7] = 1.0
    mask = ink > 0
    ink[25:27, 5:9] = 0.4
    ink[5:25, 7:9] = 0.4
    fitted = fit_mnist(ink, mask, halo=2)
    rows, cols = np.flatnonzero(fitted.any(axis=1)), np.flatnonzero(fitted.any(axis=0))
    assert (rows.size, cols.size) == (20, 4)
    digit = fitted[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert digit[0, 0] == 255 and digit[-1, -1] == round(0.4 * 255)  # the corner of the soft edges


def test_a_mask_of_another_dtype_is_read_as_true_and_false():
    ink = canvas(30, 30)
    ink[5:25, 5:17] = t_shape()
    mask = ink > 0
    expected = fit_mnist(ink, mask)
    for other in (np.float32, np.int64, np.uint8):
        np.testing.assert_array_equal(fit_mnist(ink, mask.astype(other)), expected)


def test_a_stray_pixel_two_pixels_from_the_digit_is_left_out():
    # The T needs no stroke change, so a pixel 2 px right of its bar would widen the box and move the centre.
    ink = canvas(30, 30)
    ink[5:25, 5:17] = t_shape()
    mask = ink > 0
    stray = ink.copy()
    stray[6, 18] = 1  # column 16 is the bar's last; 18 is two away
    np.testing.assert_array_equal(fit_mnist(stray, mask), placed(t_shape(), 8, 9))


def test_excluded_pixels_are_left_out():
    square = canvas(60, 60)
    square[10:50, 10:50] = 1
    other = np.zeros_like(square, bool)
    other[10:50, 50] = True
    np.testing.assert_array_equal(fit_mnist(square, square > 0, exclude=other), placed(np.ones((20, 20)), 4, 4))


def test_no_ink_is_a_data_error():
    with pytest.raises(DataError) as error:
        fit_mnist(canvas(10, 10), np.zeros((10, 10), bool))
    assert str(error.value) == "no ink found"


@pytest.mark.parametrize(
    "shape, width",
    [
        ((3, 4), 2 * 12 / 14),  # a solid rectangle: twice the area over the perimeter
        ((1, 10), 2 * 10 / 22),
        ((1, 1), 0.5),
        ((0, 0), 0.0),
    ],
)
def test_stroke_width(shape, width):
    mask = np.zeros((12, 12), bool)
    mask[1 : 1 + shape[0], 1 : 1 + shape[1]] = True
    assert _stroke_width(mask) == pytest.approx(width)
