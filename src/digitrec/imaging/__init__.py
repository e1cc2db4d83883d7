"""User images → MNIST format: uint8 28×28, white ink on black, the digit fitted into 20×20 and centred by
its centre of mass, as the MNIST digits were made.

Any image Pillow reads (PNG, JPEG, BMP, GIF, WebP, TIFF), any size and mode, dark ink on light paper or light
ink on dark: photos of paper with uneven lighting, scans, canvas drawings with a transparent background.

    loading.py  bytes → a decoded image, size-capped and shrunk early → grey levels
    ink.py      grey levels at the working size (128–256 px) → the ink (polarity, background, threshold, specks),
                and the strokes grouped into digits
    fitting.py  the ink of one digit → 28×28 (crop, stroke width, scale to 20 px, centre of mass)
    line.py     the ink of a number written in a row → the number reader's input (32 px high)
    filters.py  the neighbourhood operations both need (resizing, box mean, square maximum, labelling), on
                OpenCV's kernels with scipy's and Pillow's edge rules

Pillow, OpenCV and numpy only: no TensorFlow and no scipy, so it stays light in the server and on the
ONNX path.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from digitrec.imaging.fitting import MNIST_BOX, MNIST_CENTRE, MNIST_SIZE, MNIST_STROKES, fit_mnist
from digitrec.imaging.ink import WORK_SIDE, find_ink, group_by_column, working_copy
from digitrec.imaging.line import LINE_HEIGHT, to_line
from digitrec.imaging.loading import FORMATS, MAX_PIXELS, check_image, declared_pixels, grey_levels, load_image

__all__ = [
    "FORMATS",
    "LINE_HEIGHT",
    "MAX_PIXELS",
    "MNIST_BOX",
    "MNIST_CENTRE",
    "MNIST_SIZE",
    "MNIST_STROKES",
    "WORK_SIDE",
    "check_image",
    "declared_pixels",
    "load_image",
    "segment_digits",
    "to_line",
    "to_mnist",
    "use_threads",
]


def use_threads(count: int) -> None:
    """Cap the threads OpenCV may split one image's operations over, process-wide. A server that works on
    several requests at once sets 1: its requests use the cores, and a pool's threads waiting on each
    other between the small operations of one image only add CPU time (docs/design.md)."""
    cv2.setNumThreads(count)


def _working_grey(image: Image.Image | np.ndarray, multi: bool = False) -> np.ndarray:
    return working_copy(grey_levels(check_image(image, "image", multi)), multi)


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """One digit in an image → uint8 (28, 28) like MNIST; `DataError("no ink found")` if there is none."""
    ink = find_ink(_working_grey(image))
    return fit_mnist(ink.values, ink.mask, halo=ink.halo)


def segment_digits(image: Image.Image | np.ndarray) -> list[np.ndarray]:
    """Several digits written side by side → one uint8 (28, 28) array per digit, left to right.

    Digits are the connected ink components, with components that overlap strongly in x merged (the parts
    of a broken 5, a 7's crossbar). Touching digits are not separated: they come out as one.
    """
    ink = find_ink(_working_grey(image, multi=True), multi=True)
    digits = []
    for group in group_by_column(ink.kept):
        mask = np.isin(ink.labels, group)
        digits.append(fit_mnist(ink.values, mask, exclude=ink.mask & ~mask, halo=ink.halo))
    return digits
