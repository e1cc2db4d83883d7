"""Cut-out ink → MNIST format: cropped, strokes brought to MNIST's widths, the longest side scaled to 20 px,
pasted into 28×28 so that the centre of mass lands where MNIST's does (as the MNIST digits were made)."""

from __future__ import annotations

import cv2
import numpy as np

from digitrec.errors import DataError
from digitrec.imaging.filters import centre_of_mass, dilate, max_filter, outline_length, resize

MNIST_SIZE = 28
MNIST_BOX = 20  # MNIST digits were scaled so their longest side is 20 px
MNIST_CENTRE = 14.0  # mean centre of mass (row and column) of the MNIST t10k digits, measured
# MNIST's stroke widths in output pixels (twice the area over the outline), measured on t10k: 5th
# percentile, median, 95th percentile. Strokes outside the range are brought to the median.
MNIST_STROKES = (1.15, 1.85, 3.2)


def fit_mnist(values: np.ndarray, mask: np.ndarray, exclude: np.ndarray | None = None, halo: int = 1) -> np.ndarray:
    """Crop the ink of `mask` (plus its anti-aliased halo), thicken thin strokes, scale the longest side to
    20 px and paste into 28×28 so that the centre of mass lands where MNIST's does."""
    mask = np.asarray(mask, dtype=bool)
    # Only the mask's box widened by the halo matters: everything below works within it.
    left, top, width, height = _box(mask)
    window = np.s_[max(top - halo, 0) : top + height + halo, max(left - halo, 0) : left + width + halo]
    values, mask = values[window], mask[window]
    region = dilate(mask, halo)
    if exclude is not None:
        region &= ~np.asarray(exclude[window], dtype=bool)
    ink = values * region
    ink = _normalise_strokes(_crop(ink))
    scale = MNIST_BOX / max(ink.shape)
    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = resize(ink, size)  # area averaging: the anti-aliased grey edges MNIST has
    small /= max(float(small.max()), 1e-6)

    centre_row, centre_col = centre_of_mass(small)
    top = min(max(round(MNIST_CENTRE - centre_row), 0), MNIST_SIZE - small.shape[0])
    left = min(max(round(MNIST_CENTRE - centre_col), 0), MNIST_SIZE - small.shape[1])
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.round(out * 255).astype(np.uint8)


def _crop(ink: np.ndarray) -> np.ndarray:
    left, top, width, height = _box(ink > 0)
    return ink[top : top + height, left : left + width]


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a bool mask's pixels (OpenCV's bounding rectangle: one pass)."""
    left, top, width, height = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    if width == 0:
        raise DataError("no ink found")
    return left, top, width, height


def _normalise_strokes(ink: np.ndarray) -> np.ndarray:
    """Thicken a fine pen's strokes, thin a marker's, to MNIST's median width once scaled to 20 px."""
    scale = MNIST_BOX / max(ink.shape)
    stroke = _stroke_width(ink > 0.5) * scale
    low, target, high = MNIST_STROKES
    radius = round(abs(target - stroke) / scale / 2)  # a max/min filter of radius r changes widths by 2r
    if low <= stroke <= high or radius == 0:
        return ink
    if stroke < low:
        return _crop(max_filter(np.pad(ink, radius), radius))
    thinned = -max_filter(-ink, radius)
    return _crop(thinned) if thinned.max() > 0.5 else ink


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a shape: twice its area over its outline length."""
    return 2.0 * np.count_nonzero(mask) / max(outline_length(mask), 1)
