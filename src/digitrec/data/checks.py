"""Validation of loaded data: missing values, non-numeric cells, ranges and shapes → `DataError`.

This is the seed notebook's "check for null and missing values", made strict and precise: every error
names the file, the row and the column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from digitrec.errors import DataError

if TYPE_CHECKING:  # pandas (~0.3 s to import) only for CSV frames: checking arrays must not load it
    import pandas as pd

IMAGE_SHAPE = (28, 28)
PIXEL_COLUMNS = [f"pixel{i}" for i in range(IMAGE_SHAPE[0] * IMAGE_SHAPE[1])]


def _first_bad_cell(bad: pd.DataFrame) -> tuple[int, str]:
    """The row position and column of the first True cell, row by row."""
    row_pos = int(np.flatnonzero(bad.to_numpy().any(axis=1))[0])
    col = bad.columns[int(np.flatnonzero(bad.iloc[row_pos].to_numpy())[0])]
    return row_pos, col


def _cell(frame: pd.DataFrame, row_pos: int, column: str) -> str:
    """The cell as a message shows it: a plain Python value (`-1`, not numpy's `np.int64(-1)`), and at
    most 40 characters of it (a cell may be megabytes long)."""
    value = frame[column].iloc[row_pos]
    shown = repr(value.item() if isinstance(value, np.generic) else value)
    return shown if len(shown) <= 40 else f"{shown[:40]}…"


def _where(source: str, frame: pd.DataFrame, row_pos: int, column: str) -> str:
    # The frame's index counts data rows from 0 across chunks; row numbers are 1-based and the file line
    # adds the header line.
    row = int(frame.index[row_pos])
    return f"{source}: row {row + 1} (line {row + 2}), column {column!r}"


def check_frame(frame: pd.DataFrame, source: str, lo: int, hi: int) -> np.ndarray:
    """Check that every cell is present, an integer, and within [lo, hi]; return them as int64. Messages
    number rows by the frame's index (from 0), so a chunk of a file reports rows of the file."""
    import pandas as pd  # noqa: PLC0415 (see the module imports)

    if frame.empty:
        raise DataError(f"{source}: no data rows")
    if all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes):
        # The common, clean case: the parser found only integers, so only the range needs checking
        # (and no float copies of a 42,000 × 784 table are made).
        return _check_range(frame, frame.to_numpy(dtype=np.int64), source, lo, hi)
    missing = frame.isna()
    if missing.to_numpy().any():
        row, col = _first_bad_cell(missing)
        raise DataError(f"{_where(source, frame, row, col)}: missing value")
    # The parser already made clean columns numeric; only the others need a cell-by-cell look.
    numeric = frame.copy()
    for name in [name for name, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype)]:
        numeric[name] = pd.to_numeric(frame[name].str.strip(), errors="coerce")
    for name in [name for name, dtype in frame.dtypes.items() if pd.api.types.is_bool_dtype(dtype)]:
        numeric[name] = np.nan  # the parser read True/False as booleans: words, not pixel values
    non_numeric = numeric.isna()
    if non_numeric.to_numpy().any():
        row, col = _first_bad_cell(non_numeric)
        raise DataError(f"{_where(source, frame, row, col)}: not a number: {_cell(frame, row, col)}")
    values = numeric.to_numpy(dtype=np.float64)
    fractional = pd.DataFrame(values != np.round(values), columns=frame.columns)
    if fractional.to_numpy().any():
        row, col = _first_bad_cell(fractional)
        raise DataError(f"{_where(source, frame, row, col)}: not an integer: {_cell(frame, row, col)}")
    # The range first, on the floats: inf or 1e23 would not survive the cast to int64.
    return _check_range(frame, values, source, lo, hi).astype(np.int64)


def _check_range(frame: pd.DataFrame, values: np.ndarray, source: str, lo: int, hi: int) -> np.ndarray:
    out_of_range = (values < lo) | (values > hi)
    if out_of_range.any():
        import pandas as pd  # noqa: PLC0415 (see the module imports)

        row, col = _first_bad_cell(pd.DataFrame(out_of_range, columns=frame.columns))
        raise DataError(f"{_where(source, frame, row, col)}: value {_cell(frame, row, col)} outside {lo}–{hi}")
    return values


def check_images(images: np.ndarray, source: str) -> np.ndarray:
    """Images must be (N, 28, 28) with integer pixels 0–255; returned as uint8."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{source}: expected images of shape (N, 28, 28), got {images.shape}")
    if images.shape[0] == 0:
        raise DataError(f"{source}: no images")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or images.min() < 0 or images.max() > 255:
            raise DataError(f"{source}: pixels must be integers 0–255, got {images.dtype}")
        images = images.astype(np.uint8)
    return images


def uniform_images(images: np.ndarray) -> np.ndarray:
    """Which MNIST-format images (N, 28, 28) hold one value in every pixel: an empty canvas, nothing to read.
    A model has no answer for it but guesses, confidently (an all-black image reads as a 1 at 99.5 %)."""
    flat = images.reshape(len(images), -1)
    return flat.min(axis=1) == flat.max(axis=1)


def check_labels(labels: np.ndarray, count: int, source: str) -> np.ndarray:
    """Labels must be one integer 0–9 per image; returned as uint8."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != count:
        raise DataError(f"{source}: expected {count} labels, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers, got {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise DataError(f"{source}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside 0–9")
    return labels.astype(np.uint8)
