"""The few neighbourhood operations the preprocessing needs, on OpenCV's compiled kernels, with the edge
rules of the definitions they stand for (tests hold each to it): box mean, square maximum, 8-connected
labelling and centre of mass as scipy.ndimage defines them, padding as np.pad, shrinking as exact area
averaging, enlarging as Pillow's bilinear.

Why OpenCV: the preprocessing of a photo makes a few dozen of these calls on ~20 k pixels, where numpy's
per-call overhead is as large as the work; OpenCV's kernels are 5–20× faster here and its import costs
~25 ms (scipy.ndimage's ~0.3 s pulls in scipy.special, a third of a one-image `digitrec predict`).
Shrinking is OpenCV's INTER_AREA, exact area averaging as MNIST's anti-aliased digits were made, not
Pillow's box filter, which differs from it by up to 0.06 of full scale at non-integer ratios and costs
5–10× more on a digit's crop; the background's grid is whole blocks, OpenCV's integer-ratio fast path.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image

_BORDERS = {"edge": cv2.BORDER_REPLICATE, "symmetric": cv2.BORDER_REFLECT}  # scipy's "nearest", "reflect"


def resize(image: np.ndarray, size: tuple[int, int], method=Image.Resampling.BOX) -> np.ndarray:
    """Resize a float32 array to (width, height). BOX: area averaging; BILINEAR: Pillow's bilinear.

    Shrinking by area is OpenCV's INTER_AREA: every output pixel is the mean of the input area it covers,
    pixels cut by its edges weighted by their overlap (Pillow's BOX takes whole pixels by their centres,
    leaving some out of every output pixel at some ratios), 5–10× faster on a digit's crop. Enlarging
    bilinearly is OpenCV's INTER_LINEAR, which has Pillow's pixel centres and edge rule (equal to ~1e-7).
    Anything else (enlarging by BOX, mixed directions) is Pillow's own resize."""
    (h, w), (width, height) = image.shape, size
    if method == Image.Resampling.BOX and width <= w and height <= h:
        return cv2.resize(image.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA)
    if method == Image.Resampling.BILINEAR and width >= w and height >= h:
        return cv2.resize(image.astype(np.float32, copy=False), size, interpolation=cv2.INTER_LINEAR)
    # Straight through Pillow's raw buffers: fromarray/np.array's checks cost a third of a small resize.
    source = Image.frombuffer("F", (w, h), np.ascontiguousarray(image, dtype=np.float32), "raw", "F", 0, 1)
    return np.frombuffer(source.resize(size, method).tobytes(), np.float32).reshape(height, width).copy()


def block_mean(image: np.ndarray, block: int) -> np.ndarray:
    """Means of `block`×`block` tiles, the image extended to whole tiles by repeating its last row and
    column: shape (⌈h/block⌉, ⌈w/block⌉). (Shrinking by area at an integer ratio: OpenCV's fast path.)"""
    h, w = image.shape
    rows, cols = -(-h // block), -(-w // block)
    image = np.ascontiguousarray(image, dtype=np.float32)
    if (rows * block, cols * block) != (h, w):
        image = cv2.copyMakeBorder(image, 0, rows * block - h, 0, cols * block - w, cv2.BORDER_REPLICATE)
    return resize(image, (cols, rows))


def box_mean(image: np.ndarray, radius: int, edges: str) -> np.ndarray:
    """Mean over a (2r+1)² window. `edges`: "edge" repeats the border pixel (scipy's "nearest"),
    "symmetric" mirrors it (scipy's "reflect")."""
    size = 2 * radius + 1
    return cv2.blur(image.astype(np.float32, copy=False), (size, size), borderType=_BORDERS[edges])


def pad(image: np.ndarray, radius: int, edges: str) -> np.ndarray:
    """`image` with `radius` more pixels on every side: "edge" repeats the border pixel, "symmetric" mirrors
    the image (repeatedly, as np.pad does, when the radius exceeds a side)."""
    if edges == "symmetric" and radius > min(image.shape):  # OpenCV mirrors once; np.pad keeps going
        return np.pad(image, radius, mode="symmetric")
    return cv2.copyMakeBorder(image, radius, radius, radius, radius, _BORDERS[edges])


def max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1)² square, outside the image counting as 0 (scipy's maximum_filter with
    mode="constant", cval=0). Bool masks give their dilation by a square."""
    if radius <= 0:
        return image.copy()
    source = image.view(np.uint8) if image.dtype == bool else image
    out = cv2.dilate(source, _square(2 * radius + 1), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out.view(bool) if image.dtype == bool else out


@functools.lru_cache(maxsize=32)
def _square(size: int) -> np.ndarray:
    kernel = np.ones((size, size), np.uint8)  # all ones: OpenCV filters rows, then columns
    kernel.flags.writeable = False
    return kernel


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return max_filter(mask, radius)


def label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of `mask`, numbered like scipy.ndimage.label (raster order of their first
    pixel): labels (int32, 0 = background), area per component, and bounding box per component (top, left,
    bottom, right; exclusive ends). OpenCV's SAUF algorithm (Wu et al.) numbers them in that order; its
    block-based ones (the default) do not. Labelled within the mask's bounding box: OpenCV's statistics
    cost ~7 ns for every pixel, background included (a digit's box is a fifth of a photo's pixels)."""
    source = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    x, y, width, height = cv2.boundingRect(source)
    labels = np.zeros(mask.shape, np.int32)
    if width == 0:
        return labels, np.zeros(0, np.int64), np.zeros((0, 4), np.int64)
    _, labels[y : y + height, x : x + width], stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        source[y : y + height, x : x + width], 8, cv2.CV_32S, cv2.CCL_SAUF
    )
    stats = stats[1:].astype(np.int64)  # left, top, width, height, area
    boxes = stats[:, [1, 0, 1, 0]] + np.array([y, x, y, x])
    boxes[:, 2:] += stats[:, [3, 2]]
    return labels, stats[:, 4], boxes


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre (scipy.ndimage.center_of_mass), from OpenCV's
    moments in float64: OpenCV reads a float32 or int32 array two columns wide as a list of points."""
    moments = cv2.moments(image.astype(np.float64))
    return moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]


def outline_length(mask: np.ndarray) -> int:
    """The length of a shape's outline in pixel edges: four per pixel, less two for each pair of
    neighbours that are both in the shape."""
    inside = np.count_nonzero(mask[1:] & mask[:-1]) + np.count_nonzero(mask[:, 1:] & mask[:, :-1])
    return int(4 * np.count_nonzero(mask) - 2 * inside)
