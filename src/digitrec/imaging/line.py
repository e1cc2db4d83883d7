"""A line of writing → the number reader's input: float32 (LINE_HEIGHT, W) in [0, 1], light ink on black,
the ink's rows scaled to the line's height and its width in proportion (a multiple of `WIDTH_STEP`).

The ink is found as for single digits (`ink.find_ink` on the working copy sized by the row's height:
polarity, uneven light, paper texture and specks removed), so a photo, a scan and a canvas drawing come
out alike; nothing is cut into digits. Training lines go through exactly this function too.
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
from PIL import Image

from digitrec.errors import DataError
from digitrec.imaging.fitting import fit_mnist
from digitrec.imaging.ink import find_ink, working_copy
from digitrec.imaging.loading import check_image, grey_levels

LINE_HEIGHT = 32  # the reader's input height: digits ~20–28 px, as in MNIST
WIDTH_STEP = 4  # the reader reads one column of answers per 4 input columns
MARGIN = 4  # blank columns each side: the first and last digit's edges are seen whole
MAX_LINE_WIDTH = 4096  # ~150 digits at LINE_HEIGHT; a wider row is refused (memory stays ~0.5 MB)


def line_from_ink(values: np.ndarray) -> np.ndarray:
    """Ink strength (0 paper – 1 ink, any size) → the reader's input, cropped to the ink."""
    rows, cols = np.flatnonzero(values.max(axis=1) > 0), np.flatnonzero(values.max(axis=0) > 0)
    if len(rows) == 0:
        raise DataError("no ink found (blank, uniform or noise-only image)")
    crop = values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32, copy=False)
    inner = LINE_HEIGHT - 4
    scale = inner / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    if width + 2 * MARGIN > MAX_LINE_WIDTH:
        raise DataError(
            f"the line is too long to read as one number ({crop.shape[1]}×{crop.shape[0]} px of ink: "
            f"at most {MAX_LINE_WIDTH - 2 * MARGIN} columns at its height, about 150 digits)"
        )
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = np.asarray(cv2.resize(crop, (width, inner), interpolation=method), np.float32)
    total = math.ceil((width + 2 * MARGIN) / WIDTH_STEP) * WIDTH_STEP
    out = np.zeros((LINE_HEIGHT, total), np.float32)
    out[2 : 2 + inner, MARGIN : MARGIN + width] = scaled.clip(0.0, 1.0)
    return out


def to_line(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """One line of handwriting (a PIL image or array of any size and polarity) → the reader's input."""
    grey = grey_levels(check_image(image, name, multi=True))
    try:
        ink = find_ink(working_copy(grey, multi=True), multi=True)
        return line_from_ink(ink.values)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None


PIECE_INK = 0.35  # a line's pixel is ink above this (the line is light ink on black in [0, 1])


def digit_pieces(line: np.ndarray, centres: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The piece of `line` (float32 (LINE_HEIGHT, W)) around each digit whose centre column is in
    `centres`, from halfway to the left neighbour's centre to halfway to the right one's, its ink fitted
    into 28×28 as a single digit's is: uint8 (k, 28, 28), and which pieces hold any ink."""
    edges = [0, *(round((a + b) / 2) for a, b in itertools.pairwise(centres)), line.shape[1]]
    pieces = np.zeros((len(centres), 28, 28), np.uint8)
    inked = np.zeros(len(centres), bool)
    for i in range(len(centres)):
        piece = line[:, edges[i] : edges[i + 1]]
        mask = piece > PIECE_INK
        if mask.sum() >= 4:
            pieces[i], inked[i] = fit_mnist(piece, mask), True
    return pieces, inked
