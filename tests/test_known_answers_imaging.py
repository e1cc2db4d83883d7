"""Known answers for the image → MNIST core (digitrec.imaging.ink, digitrec.imaging.fitting), written to kill the
mutants that `make mutation` found surviving. Synthetic shapes whose every expected pixel, box, width and group
follows by hand from the documented rules, and real MNIST digits where the rule is "leave MNIST as it is"."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from digitrec.errors import DataError
from digitrec.imaging.filters import block_mean, box_mean, label, max_filter
from digitrec.imaging.fitting import _stroke_width, fit_mnist
from digitrec.imaging.ink import (
    _BACKGROUND_WINDOW,
    _background,
    _background_block,
    _ink_is_dark,
    _otsu,
    _quantile,
    _quantiles,
    _row_quantile,
    _window_index,
    find_ink,
    group_by_column,
    working_copy,
)

# ---------------------------------------------------------------------------------------------- group_by_column
# Components: label → (top, left, bottom, right, area), ends exclusive. The tallest here is 100 px high, so
# pieces are under 60 px high and join a digit at most 25 px away.


def box(left: int, right: int, top: int = 0, bottom: int = 100) -> tuple:
    return (top, left, bottom, right, (bottom - top) * (right - left))


def test_digits_apart_are_separate_and_ordered_left_to_right():
    assert group_by_column({2: box(60, 100), 1: box(0, 40), 3: box(200, 230)}) == [[1], [2], [3]]


def test_digits_overlapping_by_half_the_narrower_are_one():
    # overlap 40 - 30 = 10 = half of the narrower (20): merged; 9 of 20: not
    assert group_by_column({1: box(0, 40), 2: box(30, 50)}) == [[1, 2]]
    assert group_by_column({1: box(0, 40), 2: box(31, 51)}) == [[1], [2]]
    # the narrower one first: overlap 30 - 20 = 10, half of 20
    assert group_by_column({1: box(10, 30), 2: box(20, 70)}) == [[1, 2]]
    assert group_by_column({1: box(10, 30), 2: box(21, 71)}) == [[1], [2]]


def test_a_merged_digit_extends_to_the_right_of_its_parts():
    # 1 and 2 merge into 0..50; 3 (40..56) overlaps that by 10 ≥ 16 / 2, but 1 alone (0..40) not at all
    assert group_by_column({1: box(0, 40), 2: box(30, 50), 3: box(40, 56)}) == [[1, 2, 3]]
    # only the last digit is merged into: 4 overlaps 3, not 1
    assert group_by_column({1: box(0, 40), 3: box(100, 140), 4: box(120, 140)}) == [[1], [3, 4]]
    assert group_by_column({1: box(0, 40), 3: box(100, 140), 4: box(120, 140), 5: box(300, 340)}) == [
        [1],
        [3, 4],
        [5],
    ]


def test_a_component_of_sixty_percent_of_the_tallest_is_a_digit():
    assert group_by_column({1: box(0, 40), 2: box(100, 140, top=40, bottom=100)}) == [[1], [2]]
    assert group_by_column({1: box(0, 40), 2: box(100, 140, top=41, bottom=100)}) == [[1]]  # a piece, 60 px away


@pytest.mark.parametrize(
    "piece, expected",
    [
        (box(45, 55, top=50, bottom=70), [[1, 9], [2]]),  # 5 px right of 1
        (box(85, 95, top=50, bottom=70), [[1], [2, 9]]),  # 5 px left of 2
        (box(20, 30, top=0, bottom=20), [[1, 9], [2]]),  # inside 1's columns
        (box(65, 75, top=0, bottom=10), [[1, 9], [2]]),  # 25 px from both: the first
        (box(66, 75, top=0, bottom=10), [[1], [2, 9]]),  # 26 from 1, 25 from 2
        (box(166, 175, top=0, bottom=10), [[1], [2]]),  # 26 px right of 2: a stray mark
        (box(100, 120, top=0, bottom=10), [[1], [2, 9]]),  # inside 2's columns
    ],
)
def test_a_piece_joins_the_nearest_digit_within_a_quarter_of_the_tallest(piece, expected):
    assert group_by_column({1: box(0, 40), 2: box(100, 140), 9: piece}) == expected


def test_a_stray_mark_left_of_every_digit_is_dropped():
    assert group_by_column({1: box(100, 140), 9: box(0, 10, top=0, bottom=10)}) == [[1]]
    assert group_by_column({1: box(100, 140), 9: box(65, 75, top=0, bottom=10)}) == [[1, 9]]  # 25 px: joins


def test_pieces_join_after_the_digits_in_left_to_right_order():
    components = {1: box(20, 60), 7: box(62, 70, top=0, bottom=20), 8: box(10, 18, top=0, bottom=20)}
    assert group_by_column(components) == [[1, 8, 7]]


def test_groups_at_a_small_scale():
    # tallest 2 px: a piece (1 px high) touching the digit's columns joins (gap 0 ≤ 0.5), one 1 px away does not
    assert group_by_column({1: (0, 0, 2, 3, 6), 2: (0, 2, 1, 4, 2)}) == [[1, 2]]
    assert group_by_column({1: (0, 0, 2, 3, 6), 2: (0, 4, 1, 5, 1)}) == [[1]]


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


# ---------------------------------------------------------------------------------------------- ink.py helpers


def test_labels_are_8_connected_with_areas_and_exclusive_boxes():
    mask = np.zeros((6, 8), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # a diagonal: one component when 8-connected
    mask[4:6, 5:8] = True
    labels, areas, boxes = label(mask)
    assert labels.dtype == np.int32 and labels.max() == 2
    assert labels[0, 0] == labels[1, 1] == labels[2, 2] == 1 and (labels[4:6, 5:8] == 2).all()
    assert areas.tolist() == [3, 6]
    assert boxes.dtype == np.int64 and boxes.tolist() == [[0, 0, 3, 3], [4, 5, 6, 8]]


def test_labels_of_an_empty_mask():
    labels, areas, boxes = label(np.zeros((4, 4), bool))
    assert labels.dtype == np.int32 and not labels.any()
    assert areas.tolist() == [] and boxes.shape == (0, 4)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((512, 384), (256, 192)),
        ((100, 50), (256, 128)),
        ((1000, 3), (256, 1)),
        ((3, 1000), (1, 256)),
        ((257, 4), (256, 4)),
    ],
)
def test_the_working_copy_of_a_large_or_tiny_image_has_a_longest_side_of_256(shape, expected):
    grey = np.full(shape, 0.25, np.float32)
    work = working_copy(grey)
    assert work.shape == expected and work.dtype == np.float32
    np.testing.assert_allclose(work, 0.25, atol=1e-6)


def test_small_images_are_enlarged_bilinearly():
    # Two columns, 0 and 1, stretched to 256: pixel x samples the input at (x + 0.5) / 128 - 0.5, clipped.
    grey = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    work = working_copy(grey)
    expected = np.clip((np.arange(256) + 0.5) / 128 - 0.5, 0, 1)
    np.testing.assert_allclose(work[0], expected, atol=1e-6)
    np.testing.assert_allclose(work[255], expected, atol=1e-6)


def test_halving_averages_pixel_pairs():
    # 2-px stripes (1, 1, 0, 0, …) halved: each output pixel is the mean of one pair, exactly 1 or 0 (a
    # bilinear filter would blur them into 0.75 / 0.25).
    stripes = np.tile(np.array([1, 1, 0, 0], np.float32), (512, 128))
    work = working_copy(stripes)
    assert work.shape == (256, 256)
    np.testing.assert_array_equal(work[0, :6], [1, 0, 1, 0, 1, 0])
    assert set(np.unique(work).tolist()) == {0.0, 1.0}


def test_images_under_128_px_are_enlarged_bilinearly_too():
    # 100 → 256: pixel x samples the input at (x + 0.5) · 100/256 − 0.5; the step between columns 49 and 50
    # becomes 0.3046875 at x = 127 and 0.6953125 at x = 128.
    step = np.zeros((100, 100), np.float32)
    step[:, 50:] = 1
    work = working_copy(step)
    np.testing.assert_allclose(work[0, 125:131], [0, 0, 0.3046875, 0.6953125, 1, 1], atol=1e-6)


@pytest.mark.parametrize("shape", [(128, 40), (150, 150), (200, 256), (256, 256)])
def test_images_of_128_to_256_px_are_worked_on_as_they_are(shape):
    # Enlarging them would add pixels, not detail.
    grey = np.random.default_rng(0).random(shape).astype(np.float32)
    work = working_copy(grey)
    assert work.dtype == np.float32
    np.testing.assert_array_equal(work, grey)


# ---------------------------------------------------------------------------------------------- find_ink
# A black 120×20 bar on white paper at the working size (256×256). After the 3×3 mean, bar pixels are 1 (made
# bright), its edge pixels 6/9, its corners 4/9, the paper ring next to it 3/9 (2/9 and 1/9 at the corners);
# the paper is 0 with no noise (the noise floor, 1e-3, applies). Otsu's split falls between 4/9 and 6/9, so the
# strokes are the bar less its 4 corners; the core level (75th percentile) is 1; grey levels are
# (residual − 0.002) / (1 − 0.002), kept within one pixel of the strokes.


def bar_image(paper: float | np.ndarray = 1.0, ink: float = 0.0) -> np.ndarray:
    grey = np.ones((256, 256), np.float32) * np.float32(paper)
    grey[60:180, 118:138] = ink
    return grey.astype(np.float32)


def bar_less_corners() -> np.ndarray:
    mask = np.zeros((256, 256), bool)
    mask[60:180, 118:138] = True
    mask[[60, 60, 179, 179], [118, 137, 118, 137]] = False
    return mask


def test_a_blurred_bar_keeps_its_soft_edges_out_to_the_measured_halo():
    # A 17-px box blur spreads the bar's edges 8 px out; the grey levels fall below 0.05 6 px beyond the
    # thresholded strokes, so the halo is 6 and everything up to it survives: the grey levels are worked
    # out within the strokes' box widened by the widest halo (12), which must hold all of them.
    ink = find_ink(ndimage.uniform_filter(bar_image(), size=17, mode="nearest").astype(np.float32))
    top, left, bottom, right, _ = ink.kept[1]
    assert ink.halo == 6
    row = ink.values[(top + bottom) // 2]
    assert (row[right : right + 6] > 0.04).all() and not row[right + 6 :].any()
    assert (row[left - 6 : left] > 0.04).all() and not row[: left - 6].any()


def test_the_ink_of_a_black_bar_on_white_paper():
    ink = find_ink(bar_image())
    np.testing.assert_array_equal(ink.mask, bar_less_corners())
    assert ink.kept == {1: (60, 118, 180, 138, 120 * 20 - 4)}
    assert ink.values.dtype == np.float32
    assert (ink.values[61:179, 119:137] == 1.0).all()
    level = lambda residual: (residual - 0.002) / 0.998  # noqa: E731
    assert ink.values[100, 117] == pytest.approx(level(3 / 9), abs=1e-5)  # the paper ring
    assert ink.values[100, 118] == pytest.approx(level(6 / 9), abs=1e-5)  # the bar's edge
    assert ink.values[60, 118] == pytest.approx(level(4 / 9), abs=1e-5)  # a corner: grey, though not stroke
    assert ink.values[59, 117] == 0.0  # 1/9 of ink, but two pixels from the strokes
    assert ink.values[100, 116] == 0.0 and ink.values[0, 0] == 0.0
    assert ink.values.min() == 0.0 and ink.values.max() == 1.0


def test_the_ink_of_a_one_pixel_pen_line():
    # The 3×3 mean spreads the line over 3 columns at 1/3 each (2/9 on its end rows, 1/9 just beyond, under
    # Otsu's split): the strokes are 120×3; grey levels are (residual − 0.002) / (1/3 − 0.002) with the core
    # level 1/3: 1 along the line, lower at its ends, and nothing, not even a negative level, around it.
    grey = np.ones((256, 256), np.float32)
    grey[60:180, 128] = 0
    ink = find_ink(grey)
    strokes = np.zeros((256, 256), bool)
    strokes[60:180, 127:130] = True
    np.testing.assert_array_equal(ink.mask, strokes)
    level = lambda residual: (residual - 0.002) / (1 / 3 - 0.002)  # noqa: E731
    assert (ink.values[61:179, 127:130] == 1.0).all()
    np.testing.assert_allclose(ink.values[[60, 179], 127:130], level(2 / 9), atol=1e-5)
    assert ink.values[59, 128] == pytest.approx(level(1 / 9), abs=1e-5)
    assert ink.values[58, 128] == 0.0 and ink.values[100, 126] == 0.0 and ink.values[100, 130] == 0.0
    assert ink.values.min() == 0.0


def test_faint_ink_above_the_minimum_contrast_is_found():
    # Ink 0.12 darker than the paper (the minimum is 0.08): the same strokes as black ink.
    ink = find_ink(bar_image(ink=0.88))
    np.testing.assert_array_equal(ink.mask, bar_less_corners())


def test_ink_over_five_times_the_noise_is_found_on_a_noisy_photo():
    # Sensor noise σ 0.12 (about 0.04 after the 3×3 mean, estimated as 1.4826 × the median absolute
    # deviation): ink 0.3 darker than the paper is over 5 σ, so it is found, where the bar is.
    grey = np.float32(0.8) + np.random.default_rng(0).normal(0, 0.12, (256, 256)).astype(np.float32)
    grey[60:180, 118:138] -= 0.3
    ink = find_ink(grey)
    (box,) = ink.kept.values()
    assert abs(box[0] - 60) <= 1 and abs(box[1] - 118) <= 1 and abs(box[2] - 180) <= 1 and abs(box[3] - 138) <= 2


def test_light_ink_on_dark_paper_is_the_same_ink():
    dark, light = find_ink(bar_image()), find_ink(bar_image(paper=0.0, ink=1.0))
    np.testing.assert_array_equal(light.mask, dark.mask)
    np.testing.assert_allclose(light.values, dark.values, atol=1e-6)


def test_the_paper_s_gradient_is_taken_away():
    # Paper lit from one side (0.6 → 1.0 across the page), the same bar: the same strokes.
    paper = np.tile(np.linspace(0.6, 1.0, 256, dtype=np.float32), (256, 1))
    ink = find_ink(bar_image(paper=paper, ink=0.05))
    (box,) = ink.kept.values()
    assert box[:4] == (60, 118, 180, 138)
    assert not ink.mask[:, :110].any() and not ink.mask[:, 146:].any()


def test_grey_levels_stop_at_1_above_the_core_level():
    # 80% of the bar mid-grey, 20% black: the core level (75th percentile) is the grey one; black is 2× that,
    # clipped to 1.
    grey = bar_image(ink=0.5)
    grey[60:84, 118:138] = 0.0
    ink = find_ink(grey)
    assert (ink.values[61:179, 119:137] == 1.0).all() and ink.values.max() == 1.0


def test_specks_are_dropped_and_the_largest_component_decides():
    grey = bar_image()
    grey[10:13, 10:13] = 0  # a 3×3 speck, labelled first (scanned first): far below 4% of the bar
    ink = find_ink(grey)
    assert ink.kept == {2: (60, 118, 180, 138, 120 * 20 - 4)}
    assert not ink.mask[:20, :20].any() and not ink.values[:20, :20].any()


def test_only_specks_is_no_ink():
    grey = np.ones((256, 256), np.float32)
    grey[100:105, 100:105] = 0  # 5 px: under 6% of the working image's 256 px
    with pytest.raises(DataError) as error:
        find_ink(grey)
    assert str(error.value) == "no ink found (only specks)"


@pytest.mark.parametrize(
    "name, grey, dark",
    [
        ("black bar on white", bar_image(), True),
        ("white bar on black", bar_image(paper=0.0, ink=1.0), False),
        # a tight crop of a bold digit: ink fills the middle, the outer ring (5 px of 100) is paper
        ("tight crop", np.pad(np.zeros((84, 84), np.float32), 8, constant_values=1.0), True),
        (
            "light chalk on a mid-grey board",
            np.pad(np.full((40, 10), 0.95, np.float32), 30, constant_values=0.45),
            False,
        ),
        ("dark pen on a mid-grey page", np.pad(np.full((40, 10), 0.05, np.float32), 30, constant_values=0.55), True),
    ],
)
def test_polarity(name, grey, dark):
    assert bool(_ink_is_dark(grey)) is dark


# ---------------------------------------------------------------------------------------------- ink helpers


@pytest.mark.parametrize(
    "values, threshold",
    [
        ([0.3] * 10, 0.3),  # one level: the level itself
        ([0.0] * 5 + [1.0] * 7, 1 / 256),  # two levels: every split between them is as good; the first
        ([-1.0] * 50 + [1.0] * 50, -1 + 2 / 256),
        # 0, 0.2 and 1 (bins 0, 51, 255): {0, 0.2} | {1} separates best → just above bin 51
        ([0.0] * 100 + [0.2] * 100 + [1.0] * 100, 52 / 256),
        # 0, 0.8 and 1: {0} | {0.8, 1} separates best → just above bin 0
        ([0.0] * 100 + [0.8] * 100 + [1.0] * 100, 1 / 256),
    ],
)
def test_otsu(values, threshold):
    assert _otsu(np.array(values, np.float32)) == pytest.approx(threshold, abs=1e-7)


def test_otsu_of_integers_is_otsu_of_their_values():
    # 0, 2 and 10 (bins 0, 51, 255): {0, 2} | {10} separates best → just above bin 51, in their units
    assert _otsu(np.array([0] * 100 + [2] * 100 + [10] * 100)) == pytest.approx(10 * 52 / 256, abs=1e-6)


@pytest.mark.parametrize("q", [0.0, 0.005, 0.1, 0.5, 0.75, 0.995, 1.0])
@pytest.mark.parametrize("size", [1, 2, 7, 64, 5000])
def test_quantile_is_numpys(q, size):
    values = np.random.default_rng(size).random(size).astype(np.float32)
    assert _quantile(values, q) == pytest.approx(float(np.quantile(values, q)), abs=1e-6)
    windows = values.reshape(1, 1, -1).repeat(3, axis=1) * np.float32([[[1.0], [0.5], [0.25]]])
    np.testing.assert_allclose(_row_quantile(windows, q), np.quantile(windows, q, axis=-1), atol=1e-6)
    low, high = _quantiles(values, (q, 1 - q))
    assert (low, high) == pytest.approx(tuple(np.quantile(values, [q, 1 - q])), abs=1e-6)


@pytest.mark.parametrize("repeated", [0.5, 0.95, 1.0])
def test_quantiles_of_values_that_repeat(repeated):
    # A drawing's flat background: most values exactly equal (here 0), the rest spread.
    rng = np.random.default_rng(3)
    values = rng.random(4999).astype(np.float32)
    values[rng.random(values.size) < repeated] = 0.0
    for q in (0.0, 0.005, 0.5, 0.75, 0.995, 1.0):
        assert _quantile(values, q) == pytest.approx(float(np.quantile(values, q)), abs=1e-7)


def test_quantiles_between_ranks_take_the_next_rank_not_the_next_slot():
    # After a partition at rank k the value in slot k + 1 is usually, not always, the next rank (1 in ~300
    # of these arrays with numpy 2.4): an interpolated quantile must take the smallest value above slot k.
    for seed in range(400):
        rng = np.random.default_rng(seed)
        values = rng.random(2 * int(rng.integers(20, 3000))).astype(np.float32)
        for q in (0.5, 0.75):
            assert _quantile(values, q) == pytest.approx(float(np.quantile(values, q)), abs=1e-7), (seed, q)


@pytest.mark.parametrize("shape", [(46, 46), (46, 33), (29, 40), (47, 15)])
def test_window_index_gathers_every_other_window_every_other_value(shape):
    # The background's windows as one gather: the same values as numpy's sliding windows, strided by 2.
    grid = np.random.default_rng(0).random(shape).astype(np.float32)
    size = _BACKGROUND_WINDOW
    expected = np.lib.stride_tricks.sliding_window_view(grid, (size, size))[::2, ::2, ::2, ::2]
    np.testing.assert_array_equal(grid.ravel()[_window_index(*shape)], expected.reshape(*expected.shape[:2], -1))


def impulse(size: int, row: int, col: int) -> np.ndarray:
    image = np.zeros((size, size), np.float32)
    image[row, col] = 1
    return image


def test_box_blur_and_mean3x3_spread_an_impulse_evenly():
    for radius in (1, 2):
        side = 2 * radius + 1
        expected = np.zeros((9, 9))
        expected[4 - radius : 5 + radius, 4 - radius : 5 + radius] = 1 / side**2
        np.testing.assert_allclose(box_mean(impulse(9, 4, 4), radius, "symmetric"), expected, atol=1e-7)
    expected = np.zeros((9, 9))
    expected[3:6, 3:6] = 1 / 9
    np.testing.assert_allclose(box_mean(impulse(9, 4, 4), 1, "edge"), expected, atol=1e-7)
    # at a corner the edge pixel is repeated: it counts 4 times in its own window, twice in its neighbours'
    corner = box_mean(impulse(5, 0, 0), 1, "edge")
    np.testing.assert_allclose(corner[:2, :2], [[4 / 9, 2 / 9], [2 / 9, 1 / 9]], atol=1e-7)


def test_max_filter_counts_outside_as_zero():
    np.testing.assert_array_equal(max_filter(impulse(7, 3, 3), 2)[1:6, 1:6], np.ones((5, 5)))
    assert max_filter(impulse(7, 3, 3), 2).sum() == 25
    eroded = -max_filter(-np.ones((5, 5), np.float32), 1)  # a minimum filter: the border touches the outside
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = 1
    np.testing.assert_array_equal(eroded, expected)


@pytest.mark.parametrize(
    "shape, block, cells",
    [
        ((256, 256), 8, (32, 32)),
        ((150, 150), 5, (30, 30)),
        ((256, 192), 8, (32, 24)),
        ((150, 113), 5, (30, 23)),
        ((129, 5), 5, (26, 1)),
        ((5, 256), 8, (1, 32)),
        ((20, 7), 1, (20, 7)),  # at most 32 px: one pixel per cell
    ],
)
def test_the_background_grid_has_at_most_32_whole_blocks_on_the_longest_side(shape, block, cells):
    assert _background_block(shape) == block
    assert block_mean(np.zeros(shape, np.float32), block).shape == cells


def test_block_means_extend_the_image_by_its_last_row_and_column():
    image = np.arange(35, dtype=np.float32).reshape(5, 7)
    extended = np.pad(image, ((0, 1), (0, 2)), mode="edge")  # to 6 × 9: whole 3 × 3 blocks
    expected = extended.reshape(2, 3, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(block_mean(image, 3), expected, rtol=1e-6)
    np.testing.assert_array_equal(block_mean(image, 1), image)


def test_the_background_follows_paper_lit_from_one_side():
    # Paper from 0.2 to 0.8 across the page with a bright bar of ink: the estimate is the paper, within 0.04,
    # under the ink too (a 10th percentile over half-page windows alone lags the gradient by about 0.1).
    paper = np.tile(np.linspace(0.2, 0.8, 256, dtype=np.float32), (256, 1))
    bright = paper.copy()
    bright[60:180, 118:138] = 1.0
    assert np.abs(_background(bright) - paper).max() < 0.04
    flat = np.full((256, 256), 0.1, np.float32)
    flat[60:180, 118:138] = 0.9
    np.testing.assert_allclose(_background(flat), 0.1, atol=1e-6)


@pytest.mark.parametrize("shape", [(113, 150), (150, 113), (129, 200), (161, 227)])
@pytest.mark.parametrize("axis", [0, 1])
def test_the_background_follows_the_paper_at_sizes_that_are_not_whole_blocks(shape, axis):
    # The grid is whole blocks of 5–8 px here, the image extended to them at the bottom and right: the
    # estimate is cut back to the image. Its worst pixel is a corner of the steepest lighting (0.6 across
    # 113–227 px): within 0.06 (the 32-cell resampled grid before it: 0.05); the typical pixel within 0.01.
    h, w = shape
    ramp = np.linspace(0.2, 0.8, shape[axis], dtype=np.float32)
    paper = np.broadcast_to(ramp[:, None] if axis == 0 else ramp[None, :], shape).copy()
    bright = paper.copy()
    bright[h // 4 : 2 * h // 3, 9 * w // 20 : 11 * w // 20] = 1.0
    error = np.abs(_background(bright) - paper)
    assert error.shape == shape
    assert error.max() < 0.06 and error.mean() < 0.01
