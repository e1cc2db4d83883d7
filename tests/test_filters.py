"""digitrec.imaging.filters against the definitions it replaces: scipy.ndimage's label, maximum_filter,
uniform_filter and center_of_mass, exact area averaging and Pillow's resampling, on arbitrary masks and
images (Hypothesis), plus the shapes that stress labelling (diagonal touches, U-shapes that join late,
spirals)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage

from digitrec.imaging import filters

EIGHT = np.ones((3, 3), bool)
masks = hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40))
images = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30),
    elements=st.floats(0, 1, width=32),
)


def assert_labels_match_scipy(mask: np.ndarray) -> None:
    expected, count = ndimage.label(mask, structure=EIGHT)
    labels, areas, boxes = filters.label(mask)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(areas, np.bincount(expected.ravel(), minlength=count + 1)[1:])
    objects = [(r.start, c.start, r.stop, c.stop) for r, c in ndimage.find_objects(expected)]
    np.testing.assert_array_equal(boxes, np.array(objects, np.int64).reshape(-1, 4))


@given(masks)
def test_labels_areas_and_boxes_are_scipys(mask):
    assert_labels_match_scipy(mask)


@given(st.integers(1, 60), st.integers(1, 60), st.floats(0.05, 0.95), st.integers(0, 2**32 - 1))
def test_labels_of_random_masks_at_every_density(h, w, density, seed):
    assert_labels_match_scipy(np.random.default_rng(seed).random((h, w)) < density)


@pytest.mark.parametrize(
    "rows",
    [
        ["#.#", ".#.", "#.#"],  # an X: one component through diagonal touches only
        ["#...#", "#...#", "#...#", "#####"],  # a U: two runs that join three rows down
        ["#.#.#.#", "#.#.#.#", "#######"],  # a comb: four runs joined by the last row
        ["#####", "....#", "###.#", "#...#", "#####"],  # a spiral
        ["##..##", "..##..", "##..##"],  # runs meeting corner to corner
        ["#..", "...", "..#"],  # a gap of one row: two components
    ],
)
def test_labels_of_shapes_that_join_late(rows):
    assert_labels_match_scipy(np.array([[c == "#" for c in row] for row in rows]))


@given(st.one_of(masks, images), st.integers(1, 12))
def test_max_filter_is_scipys_with_zero_outside(image, radius):
    expected = ndimage.maximum_filter(image, size=2 * radius + 1, mode="constant", cval=0)
    np.testing.assert_array_equal(filters.max_filter(image, radius), expected)


@given(images, st.sampled_from([(1, "edge", "nearest"), (3, "symmetric", "reflect"), (2, "edge", "nearest")]))
def test_box_mean_is_scipys_uniform_filter(image, case):
    radius, edges, mode = case
    if min(image.shape) <= radius and edges == "symmetric":
        return  # numpy mirrors only a side's worth of pixels at a time; the images here are never this small
    expected = ndimage.uniform_filter(image, size=2 * radius + 1, mode=mode)
    np.testing.assert_allclose(filters.box_mean(image, radius, edges), expected, atol=1e-5)


@given(images)
def test_centre_of_mass_is_scipys(image):
    if image.sum() < 1e-3:
        return
    np.testing.assert_allclose(filters.centre_of_mass(image), ndimage.center_of_mass(image), rtol=1e-5, atol=1e-4)


@given(images, st.integers(0, 40), st.sampled_from(["edge", "symmetric"]))
def test_pad_is_numpys(image, radius, edges):
    # Radii up to 40 on sides from 1: "symmetric" mirrors repeatedly when the radius exceeds a side.
    np.testing.assert_array_equal(filters.pad(image, radius, edges), np.pad(image, radius, mode=edges))


@given(masks)
def test_outline_length_counts_the_edges_between_the_shape_and_the_rest(mask):
    padded = np.pad(mask, 1)
    expected = np.count_nonzero(padded[1:] != padded[:-1]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    assert filters.outline_length(mask) == expected


def pillow_resize(image: np.ndarray, size: tuple[int, int], method) -> np.ndarray:
    return np.array(Image.fromarray(image, "F").resize(size, method), dtype=np.float32)


def area_average(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Exact area averaging: output pixel (i, j) covers rows [i·h/H, (i+1)·h/H) and likewise columns;
    every input pixel counts by the share of it inside."""

    def overlaps(n_in: int, n_out: int) -> np.ndarray:
        edges = np.arange(n_out + 1) * n_in / n_out
        start, stop = edges[:-1, None], edges[1:, None]
        pixel = np.arange(n_in)[None, :]
        return np.clip(np.minimum(stop, pixel + 1) - np.maximum(start, pixel), 0, None) / (n_in / n_out)

    (h, w), (width, height) = image.shape, size
    return overlaps(h, height) @ image.astype(np.float64) @ overlaps(w, width).T


def expected_resize(image: np.ndarray, size: tuple[int, int], method) -> np.ndarray:
    (h, w), (width, height) = image.shape, size
    if method == Image.Resampling.BOX and width <= w and height <= h:
        return area_average(image, size)
    return pillow_resize(image, size, method)


def test_area_averaging_reference_by_hand():
    # 3 → 2 pixels: each output pixel covers 1.5 input pixels; the middle one is shared half and half.
    np.testing.assert_allclose(area_average(np.array([[0.0, 0.6, 0.9]], np.float32), (2, 1)), [[0.2, 0.8]])


@given(images, st.integers(1, 40), st.integers(1, 40), st.sampled_from(["box", "bilinear"]))
def test_resize_is_area_averaging_or_pillows(image, width, height, name):
    # Every combination: shrinking or enlarging per axis; exact area averaging (shrinking by BOX), OpenCV's
    # bilinear enlarging or Pillow itself.
    method = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR}[name]
    got = filters.resize(image, (width, height), method)
    assert got.shape == (height, width) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected_resize(image, (width, height), method), atol=1e-5)


@pytest.mark.parametrize(
    "shape, size, method",
    [
        ((150, 150), (32, 32), Image.Resampling.BOX),
        ((13, 13), (6, 6), Image.Resampling.BOX),  # Pillow's box filter leaves pixel 6 out of both outputs
        ((97, 61), (20, 13), Image.Resampling.BOX),  # a cropped digit → 20 px
        ((16, 16), (150, 150), Image.Resampling.BILINEAR),  # the background back to full size
        ((2, 3), (256, 171), Image.Resampling.BILINEAR),
    ],
)
def test_resize_is_exact_on_the_common_sizes(shape, size, method):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    np.testing.assert_allclose(filters.resize(image, size, method), expected_resize(image, size, method), atol=1e-5)
