"""The few neighbourhood operations the preprocessing needs, in numpy, exactly as scipy.ndimage defines them
(box mean, square maximum, 8-connected labelling, centre of mass; tests compare them with scipy's), and
resizing exactly as Pillow does (tests compare it with Pillow's).

Why not scipy.ndimage itself: importing it costs ~0.3 s (it pulls in scipy.special), a third of a
one-image `digitrec predict`, and its general n-d kernels are slower on these small images than the
O(1)-per-pixel forms below (running sums for box windows, doubling for maxima, runs for labels).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

_MAX_PLAN = 1 << 20  # weights matrix entries up to which a resampling plan is made (and cached)


def resize(image: np.ndarray, size: tuple[int, int], method=Image.Resampling.BOX) -> np.ndarray:
    """Resize a float32 array to (width, height) exactly as Pillow does (BOX: area averaging; BILINEAR).

    Enlarging bilinearly (the coarse background back to full size, a small image to the working size)
    reaches two input pixels per output pixel: done here with Pillow's own weights, two gathers per
    axis, 3–4× faster than the round trip through a Pillow image on these sizes. Shrinking is Pillow's:
    its C loop beats numpy's reductions over runs (measured: 98 vs 211 µs for 150 → 32 px).
    """
    (h, w), (width, height) = image.shape, size
    rows = _pairs(h, height) if method == Image.Resampling.BILINEAR else None
    cols = _pairs(w, width) if rows is not None else None
    if rows is None or cols is None:
        return np.array(Image.fromarray(image, "F").resize(size, method), dtype=np.float32)
    return np.ascontiguousarray(_blend(_blend(image.astype(np.float32, copy=False).T, cols).T, rows))


def _blend(image: np.ndarray, pairs: tuple) -> np.ndarray:
    """Each output row: two input rows, weighted (`_pairs`' plan)."""
    (left, right), (w_left, w_right) = pairs
    return image[left] * w_left[:, None] + image[right] * w_right[:, None]


@functools.lru_cache(maxsize=512)
def _pairs(n_in: int, n_out: int) -> tuple | None:
    """Pillow's bilinear enlarging of n_in → n_out pixels as (left, right) indices and their weights, or
    None (shrinking, or too large to plan). The plan is taken from Pillow's weights and used only if it
    rebuilds them exactly."""
    if n_in > n_out or n_in * n_out > _MAX_PLAN:
        return None
    weights = _weights(n_in, n_out)
    left = np.minimum(np.argmax(weights > 0, axis=1), max(n_in - 2, 0))
    right = np.minimum(left + 1, n_in - 1)
    rows = np.arange(n_out)
    plan = ((left, right), (weights[rows, left], np.where(right > left, weights[rows, right], 0).astype(np.float32)))
    return plan if np.array_equal(_blend(np.eye(n_in, dtype=np.float32), plan), weights) else None


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's bilinear weights for enlarging (`precompute_coeffs` in Resample.c, its arithmetic in the same
    order) as an (n_out, n_in) float32 matrix: output pixel i is centred at (i + 0.5) · n_in / n_out, the
    triangle 1 − |x| is cut to its support of one pixel either side and normalised to sum 1."""
    scale = n_in / n_out
    centres = (np.arange(n_out) + 0.5) * scale
    first = np.maximum((centres - 1.0 + 0.5).astype(np.int64), 0)  # C's truncating casts
    stop = np.minimum((centres + 1.0 + 0.5).astype(np.int64), n_in)
    x = np.arange(n_in)
    weights = np.maximum(1.0 - np.abs(x[None, :] - centres[:, None] + 0.5), 0.0)
    weights *= (x >= first[:, None]) & (x < stop[:, None])
    total = weights.sum(axis=1, keepdims=True)
    return (weights / np.where(total == 0, 1.0, total)).astype(np.float32)


def box_mean(image: np.ndarray, radius: int, edges: str) -> np.ndarray:
    """Mean over a (2r+1)² window. `edges`: "edge" repeats the border pixel (scipy's "nearest"),
    "symmetric" mirrors it (scipy's "reflect"). The windows here are small: shifted sums, row then column."""
    size = 2 * radius + 1
    out = pad(image.astype(np.float32, copy=False), radius, edges)
    rows = out.shape[0] - size + 1
    total = out[:rows].copy()
    for i in range(1, size):
        total += out[i : i + rows]
    cols = total.shape[1] - size + 1
    out = total[:, :cols].copy()
    for i in range(1, size):
        out += total[:, i : i + cols]
    out *= np.float32(1.0 / (size * size))
    return out


def pad(image: np.ndarray, radius: int, edges: str) -> np.ndarray:
    """`image` with `radius` more pixels on every side: "edge" repeats the border pixel, "symmetric" mirrors
    the image (repeatedly, as np.pad does, when the radius exceeds a side). One gather, not np.pad's
    general machinery, whose overhead is most of its cost on these small images."""
    h, w = image.shape
    return image[np.ix_(_pad_index(h, radius, edges), _pad_index(w, radius, edges))]


def _pad_index(n: int, radius: int, edges: str) -> np.ndarray:
    index = np.arange(-radius, n + radius)
    if edges == "edge":
        return np.clip(index, 0, n - 1)
    index %= 2 * n  # symmetric: period 2n, the second half mirrored
    return np.where(index >= n, 2 * n - 1 - index, index)


def max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1)² square, outside the image counting as 0 (scipy's maximum_filter with
    mode="constant", cval=0). Bool masks give their dilation by a square."""
    if radius <= 0:
        return image.copy()
    h, w = image.shape
    size = 2 * radius + 1
    padded = np.zeros((h + 2 * radius, w + 2 * radius), image.dtype)
    padded[radius : radius + h, radius : radius + w] = image
    return _sliding_max(_sliding_max(padded, size).T, size).T


def _sliding_max(a: np.ndarray, size: int) -> np.ndarray:
    """max(a[i : i + size]) along the first axis, by doubling: O(log size) passes."""
    n = a.shape[0] - size + 1
    span, m = 1, a
    while 2 * span <= size:
        m = np.maximum(m[:-span], m[span:])  # m[i] = max(a[i : i + 2·span])
        span *= 2
    return np.maximum(m[:n], m[size - span : size - span + n])


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return max_filter(mask, radius)


def label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of `mask`, numbered like scipy.ndimage.label (raster order of their first
    pixel): labels (int32, 0 = background), area per component, and bounding box per component (top, left,
    bottom, right; exclusive ends).

    The components are found on the horizontal runs of the mask, not its pixels: runs in adjacent rows
    touch when their column ranges overlap or meet diagonally; the touching pairs are merged by repeated
    min-hooking and pointer jumping.
    """
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # exclusive; same row-major order as the starts
    stride = w + 2
    key_start, key_end = rows * stride + starts, rows * stride + ends
    # Run b (row r + 1) touches the runs a of row r with end_a >= start_b and start_a <= end_b.
    first = np.searchsorted(key_end, (rows - 1) * stride + starts, side="left")
    last = np.searchsorted(key_start, (rows - 1) * stride + ends, side="right")
    counts = np.maximum(last - first, 0)
    b = np.repeat(np.arange(rows.size), counts)
    a = np.repeat(first, counts) + _ranks(counts)

    parent = np.arange(rows.size)
    while a.size:
        low = np.minimum(parent[a], parent[b])
        np.minimum.at(parent, parent[a], low)
        np.minimum.at(parent, parent[b], low)
        while not np.array_equal(parent, parent[parent]):
            parent = parent[parent]
        if np.array_equal(parent[a], parent[b]):
            break
    roots, component = np.unique(parent, return_inverse=True)
    count = roots.size
    lengths = ends - starts
    labels = np.zeros(h * w, np.int32)
    labels[np.repeat(rows * w + starts, lengths) + _ranks(lengths)] = np.repeat(component + 1, lengths)
    areas = np.bincount(component, weights=lengths, minlength=count).astype(np.int64)
    boxes = np.empty((count, 4), np.int64)
    boxes[:, 0], boxes[:, 1] = h, w
    boxes[:, 2:] = 0
    np.minimum.at(boxes[:, 0], component, rows)
    np.minimum.at(boxes[:, 1], component, starts)
    np.maximum.at(boxes[:, 2], component, rows + 1)
    np.maximum.at(boxes[:, 3], component, ends)
    return labels.reshape(h, w), areas, boxes


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, …, c - 1 for each count c, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre (scipy.ndimage.center_of_mass)."""
    total = float(image.sum(dtype=np.float64))
    rows = float(image.sum(axis=1, dtype=np.float64) @ np.arange(image.shape[0])) / total
    cols = float(image.sum(axis=0, dtype=np.float64) @ np.arange(image.shape[1])) / total
    return rows, cols


def outline_length(mask: np.ndarray) -> int:
    """The length of a shape's outline in pixel edges."""
    inside = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    border = np.count_nonzero(mask[[0, -1]]) + np.count_nonzero(mask[:, [0, -1]])
    return int(inside + border)
