"""Known answers for finding ink and grouping it into digits (digitrec.imaging.ink: find_ink, group_by_column),
written to kill the mutants that `make mutation` found surviving: synthetic shapes whose every expected pixel,
box and group follows by hand from the documented rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from digitrec.errors import DataError
from digitrec.imaging.ink import (
    _ink_is_dark,
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


def test_a_long_row_of_digits_is_measured_by_its_height():
    """A number of many digits: what a digit's size follows is the row's height, not the image's length. A
    1040×100 strip of 60-px strokes, twelve in a row, has strokes of 6% of 1,040 px but 60% of its 100."""
    grey = np.ones((100, 1040), np.float32)
    for left in range(40, 1000, 80):
        grey[20:80, left : left + 6] = 0
    with pytest.raises(DataError, match="only specks"):
        find_ink(working_copy(grey))  # as one digit: reduced to 256 px long, strokes 15 px < 6% of 256
    work = working_copy(grey, multi=True)
    assert work.shape == (256, 2662)  # enlarged like any digit under 128 px: by its height, to 256 px
    ink = find_ink(work, multi=True)
    assert len(group_by_column(ink.kept)) == 12


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
