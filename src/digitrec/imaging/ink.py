"""Finding the ink in grey levels at the working size: polarity (ink made bright), the paper's uneven
background flattened, a threshold checked against the noise level, specks dropped, and the connected
strokes grouped into digits for multi-digit numbers. Every pixel constant here is in working pixels
(the longest side is `MIN_WORK_SIDE`–`WORK_SIDE`), every level in grey 0–1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from digitrec.errors import DataError
from digitrec.imaging.filters import block_mean, box_mean, dilate, label, outline_length, pad, resize

WORK_SIDE = 256  # the longest side of the working copy: larger images are reduced to it...
MIN_WORK_SIDE = 128  # ...smaller ones enlarged to it, unless they have at least this many pixels already
_BACKGROUND_GRID = 32  # the background is estimated on a grid of at most this many cells a side...
_BACKGROUND_WINDOW = 15  # ...with a window of this many grid cells: about half the image, wider than bold strokes
_MIN_CONTRAST = 0.08  # ink must differ from the paper by at least this much...
_MIN_SNR = 5.0  # ...and by this many times the background noise
_SPECK_FRACTION = 0.04  # components smaller than this share of the largest one are specks
_PIECE_HEIGHT = 0.6  # segmenting: components shorter than this share of the tallest are pieces of a digit...
_PIECE_GAP = 0.25  # ...joining the nearest digit within this share of the tallest height
_MAX_HALO = 12  # working px: soft edges beyond this are background, not ink
_MIN_DIGIT_EXTENT = 0.06  # the largest component must span this share of the working image's reference side


def reference_side(shape: tuple[int, ...], multi: bool = False) -> int:
    """The side a digit's size follows: the longest of an image of one digit; the shortest (the height of
    the row) of an image of a number written left to right, however many digits long."""
    return min(shape[:2]) if multi else max(shape[:2])


def working_copy(grey: np.ndarray, multi: bool = False) -> np.ndarray:
    """Grey levels scaled so that the reference side is `WORK_SIDE`, except an image whose reference side
    is `MIN_WORK_SIDE`–`WORK_SIDE` already: enlarging it would add pixels (2.9× for a 150-px photo, most of
    the preprocessing's time) but no detail. Only tiny or low-resolution digits are enlarged, so that their
    blurred edges span enough working pixels to measure (see `_edge_width`)."""
    h, w = grey.shape
    side = reference_side(grey.shape, multi)
    if MIN_WORK_SIDE <= side <= WORK_SIDE:
        return grey.astype(np.float32, copy=False)
    scale = WORK_SIDE / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return resize(grey, size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)


@dataclass
class Ink:
    values: np.ndarray  # float32 ink strength 0–1 (0 = paper), zero outside kept components' halo
    mask: np.ndarray  # bool: pixels of the kept components
    labels: np.ndarray  # int32 component labels of the thresholded ink (0 = none)
    kept: dict[int, tuple]  # labels that are not specks → (top, left, bottom, right, area); ends exclusive
    halo: int = 1  # how far (working px) anti-aliased edges reach beyond the thresholded strokes


def find_ink(grey: np.ndarray, multi: bool = False) -> Ink:
    smooth = box_mean(grey, 1, "edge")  # tames sensor noise and JPEG speckle, keeps thin strokes
    bright = 1.0 - smooth if _ink_is_dark(smooth) else smooth
    residual = bright - _background(bright)

    sample = np.ascontiguousarray(residual[::2, ::2])  # statistics of many pixels need not see all of them
    split = max(_otsu(sample), _MIN_CONTRAST / 2)
    paper = sample[sample <= split]
    paper_level = _quantile(paper, 0.5) if paper.size else 0.0
    noise = max(1.4826 * _quantile(np.abs(paper - paper_level), 0.5) if paper.size else 0.0, 1e-3)
    mask = residual > max(split, paper_level + 3.0 * noise)
    contrast = _quantile(residual[mask], 0.5) - paper_level if mask.any() else 0.0
    if contrast < max(_MIN_CONTRAST, _MIN_SNR * noise):
        raise DataError("no ink found (blank, uniform or noise-only image)")

    labels, areas, boxes = label(mask)
    largest = int(np.argmax(areas))
    top, left, bottom, right = boxes[largest]
    if max(bottom - top, right - left) < _MIN_DIGIT_EXTENT * reference_side(grey.shape, multi):
        raise DataError("no ink found (only specks)")
    keep = np.flatnonzero(areas >= _SPECK_FRACTION * areas[largest])
    kept = {i + 1: (*box, area) for i, box, area in zip(keep.tolist(), boxes[keep].tolist(), areas[keep].tolist())}
    if len(kept) == len(areas):
        kept_mask = mask
    else:
        kept_mask = np.zeros(len(areas) + 1, bool)
        kept_mask[keep + 1] = True
        kept_mask = kept_mask[labels]

    # Grey levels as in MNIST: stroke cores saturate, edges keep their anti-aliasing; nothing outside a
    # halo around the kept strokes survives (no background texture, no specks). Worked out within the kept
    # strokes' box widened by the widest halo, which holds everything that can survive.
    (top, left), (bottom, right) = boxes[keep, :2].min(axis=0).tolist(), boxes[keep, 2:].max(axis=0).tolist()
    window = np.s_[max(top - _MAX_HALO, 0) : bottom + _MAX_HALO, max(left - _MAX_HALO, 0) : right + _MAX_HALO]
    near_mask = kept_mask[window]
    core = _quantile(residual[window][near_mask], 0.75)
    floor = paper_level + 2.0 * noise
    near = np.clip((residual[window] - floor) / max(core - floor, 1e-3), 0.0, 1.0)
    halo = _edge_width(near, near_mask)
    near *= dilate(near_mask, halo)
    values = np.zeros(residual.shape, np.float32)
    values[window] = near
    return Ink(values, kept_mask, labels, kept, halo)


def _edge_width(values: np.ndarray, mask: np.ndarray) -> int:
    """How many pixels the ink's soft edges spread beyond the thresholded strokes: about 1 for a sharp
    photo or scan at the working size, many for a blurred or upscaled low-resolution digit, whose grey
    edges carry the strokes' true width."""
    near = dilate(mask, _MAX_HALO) > mask  # around the strokes, not in them
    soft = np.count_nonzero(near & (values > 0.05))
    return min(max(round(soft / max(outline_length(mask), 1)), 1), _MAX_HALO)


def _ink_is_dark(grey: np.ndarray) -> bool:
    """Dark ink on light paper? The ink is the far tail of the grey levels on one side of the paper's level,
    taken as the median of the image's outer ring: mostly paper even when bold strokes fill the middle, or
    touch the edge of a tight crop."""
    h, w = grey.shape
    ring = max(1, min(h, w) // 20)
    border = np.concatenate(
        [grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()]
    )
    paper = _quantile(border, 0.5)
    low, high = _quantiles(grey[::2, ::2], (0.005, 0.995))
    return paper - low >= high - paper


def _background(bright: np.ndarray) -> np.ndarray:
    """The paper under bright ink: a low percentile over a coarse window, refined by the local mean of the
    pixels that are not ink (exact on smooth gradients, unlike the percentile alone)."""
    h, w = bright.shape
    # The coarse grid is exact block means (the image extended by its last row and column to whole
    # blocks), 10× faster than resampling to a fixed 32 cells; back at full size, the extension is cut off.
    block = _background_block(bright.shape)
    small = block_mean(bright, block)
    full = (small.shape[1] * block, small.shape[0] * block)
    # Mirrored, not replicated: a stroke touching the edge of a tight crop must not fill the edge windows.
    # The percentile is taken around every other cell, over every other cell of its window: a quarter of
    # the windows, a quarter of the values each, for a level that is only the first guess of which pixels
    # are paper. One gather of all the windows' values (a cached index), then their rows sorted.
    padded = pad(small, _BACKGROUND_WINDOW // 2, "symmetric")
    windows = padded.ravel()[_window_index(*padded.shape)]
    sparse = _row_quantile(windows, 0.1)

    residual = bright - resize(sparse, full, Image.Resampling.BILINEAR)[:h, :w]
    paper = ~dilate(residual > max(_otsu(residual[::2, ::2]), _MIN_CONTRAST / 2), 2)
    paper_share = block_mean(paper.astype(np.float32), block)
    paper_sum = block_mean(bright * paper, block)
    radius = _BACKGROUND_WINDOW // 4
    support = box_mean(paper_share, radius, "symmetric")
    mean = box_mean(paper_sum, radius, "symmetric") / np.maximum(support, 1e-6)
    sparse_support = support <= 0.1  # (rare) where almost everything is ink: the percentile's level
    if sparse_support.any():
        mean[sparse_support] = resize(sparse, small.shape[::-1], Image.Resampling.BILINEAR)[sparse_support]
    return resize(mean, full, Image.Resampling.BILINEAR)[:h, :w]


def _background_block(shape: tuple[int, int]) -> int:
    """The side of the background grid's cells: at most `_BACKGROUND_GRID` of them on the longest side."""
    return max(1, -(-max(shape) // _BACKGROUND_GRID))


@functools.lru_cache(maxsize=64)
def _window_index(h: int, w: int) -> np.ndarray:
    """Flat indices into a padded (h, w) grid: for every other window position, every other value of its
    `_BACKGROUND_WINDOW`² window; shape (rows, cols, values)."""
    size = _BACKGROUND_WINDOW
    rows, cols = np.arange(0, h - size + 1, 2), np.arange(0, w - size + 1, 2)
    offsets = np.arange(0, size, 2)
    r = (rows[:, None] + offsets)[:, None, :, None]
    c = (cols[:, None] + offsets)[None, :, None, :]
    return (r * w + c).reshape(rows.size, cols.size, -1)


def _otsu(values: np.ndarray) -> float:
    """The threshold that best splits `values` into two classes (Otsu's between-class variance), on a
    histogram of 256 equal bins from their minimum to their maximum (the maximum in the last bin)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    lo, hi = (float(v) for v in cv2.minMaxLoc(values)[:2])
    if hi - lo < 1e-6:
        return hi
    # OpenCV's Otsu on the bin numbers (8-bit), 3× faster than a histogram and the variance sums in numpy:
    # the same criterion (class 0 = bins ≤ t, the first of equal maxima), t = the last bin of class 0.
    scale = 256 / (hi - lo)
    levels = np.minimum((values - np.float32(lo)) * np.float32(scale), 255).astype(np.uint8)
    last_of_class0, _ = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return lo + (last_of_class0 + 1) / scale


def _quantile(values: np.ndarray, q: float) -> float:
    """The q-quantile (0–1) of all values, interpolated linearly between the two nearest ranks as
    np.quantile's default does, by partial sorting: np.percentile does the same work with far more
    overhead, which on these small arrays is most of its cost."""
    return _quantiles(values, (q,))[0]


def _quantiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Several quantiles of the same values. Each is one partition around its lower rank, the next rank
    being the smallest value above it: np.partition with a list of ranks is several times slower
    (5,000 values: 14 vs 8 µs for two ranks; 16,000: 143 vs 19 µs)."""
    data = np.array(values).ravel()  # one copy, partitioned in place for every q
    last = data.size - 1
    out = []
    for q in qs:
        position = q * last
        low = int(position)
        data.partition(low)
        below = data[low]
        fraction = np.float32(position - low)
        above = data[low + 1 :].min() if fraction and low < last else below  # the next rank, if it counts
        out.append(float(below + (above - below) * fraction))
    return tuple(out)


def _row_quantile(rows: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of every row (last axis), as `_quantile`; a full sort, which on short rows is twice as
    fast as np.partition."""
    data = np.sort(rows, axis=-1)
    position = q * (data.shape[-1] - 1)
    low = int(position)
    high = min(low + 1, data.shape[-1] - 1)
    return (data[..., low] + (data[..., high] - data[..., low]) * np.float32(position - low)).astype(np.float32)


def group_by_column(components: dict[int, tuple]) -> list[list[int]]:
    """Component labels grouped into digits, left to right.

    Components of at least `_PIECE_HEIGHT` of the tallest one's height are digits, merged when their column
    ranges overlap by half of the narrower one (the parts of an open 4). Shorter ones are pieces (the flag of
    a 5, a 7's crossbar) and join the nearest digit within `_PIECE_GAP` heights; further away, they are
    stray marks and left out.
    """
    tallest = max(bottom - top for top, _, bottom, _, _ in components.values())
    by_left = sorted(components.items(), key=lambda item: item[1][1])
    groups: list[list] = []  # [labels, left, right]
    pieces = []
    for component, (top, left, bottom, right, _) in by_left:
        if bottom - top < _PIECE_HEIGHT * tallest:
            pieces.append((component, left, right))
        elif groups and min(right, groups[-1][2]) - left >= 0.5 * min(right - left, groups[-1][2] - groups[-1][1]):
            groups[-1][0].append(component)
            groups[-1][2] = max(right, groups[-1][2])
        else:
            groups.append([[component], left, right])
    for component, left, right in pieces:
        gaps = [max(0, left - group_right, group_left - right) for _, group_left, group_right in groups]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= _PIECE_GAP * tallest:
            groups[nearest][0].append(component)
    return [labels for labels, _, _ in groups]
