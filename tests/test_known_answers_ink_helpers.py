"""Known answers for the helpers under the image → MNIST core (digitrec.imaging.ink and .filters: labels, the
working copy, Otsu's split, quantiles, the paper's background), written to kill the mutants that `make mutation`
found surviving."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.imaging.filters import block_mean, box_mean, label, max_filter
from digitrec.imaging.ink import (
    _BACKGROUND_WINDOW,
    _background,
    _background_block,
    _otsu,
    _quantile,
    _quantiles,
    _row_quantile,
    _window_index,
    working_copy,
)

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
