"""Kaggle "Digit Recognizer" CSVs: `label,pixel0..pixel783` (train) or `pixel0..pixel783` (test)."""

from __future__ import annotations

import os
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from digitrec.data.checks import IMAGE_SHAPE, PIXEL_COLUMNS, check_frame
from digitrec.errors import DataError
from digitrec.fileio import atomic_path

_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_error_detail(exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
    if match := _FIELD_COUNT.search(detail):
        expected, line, saw = map(int, match.groups())
        return f"row {line - 1} (line {line}) has {saw} fields, expected {expected}"
    return f"malformed CSV: {detail}"


def _read_frame(path: Path) -> pd.DataFrame:
    options: dict[str, Any] = {"keep_default_na": False, "na_values": [""], "index_col": False, "compression": "infer"}
    try:
        # Fast path for clean files: all-int64 parsing, a third of the memory of type inference.
        return pd.read_csv(path, dtype=np.int64, **options)
    except (ValueError, OverflowError):
        # Some cell is missing or not an integer: parse leniently so check_frame can point at it.
        return pd.read_csv(path, **options)


def read_kaggle_csv(path: str | os.PathLike, labelled: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a Kaggle CSV (plain or .gz) into uint8 images (N, 28, 28) and labels (N,) or None.

    `labelled=None` accepts either layout, telling them apart by the header.
    """
    path = Path(path)
    source = str(path)
    try:
        with warnings.catch_warnings():
            # By default pandas takes a surplus leading field in the first data row for a row index and
            # shifts every column by one without a word; index_col=False makes it warn instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = _read_frame(path)
    except pd.errors.ParserWarning:
        raise DataError(f"{source}: row 1 (line 2) has more fields than the header") from None
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{source}: {_parser_error_detail(exc)}") from None
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: cannot read as CSV ({exc})") from None

    columns = [str(c).strip() for c in frame.columns]
    has_label = bool(columns) and columns[0] == "label"
    expected = (["label"] if has_label else []) + PIXEL_COLUMNS
    if labelled is not None and has_label != labelled:
        want = "a 'label' column first" if labelled else "no 'label' column"
        raise DataError(f"{source}: expected {want} (header starts {columns[:2]})")
    if columns != expected:
        wrong = next((i for i, (a, b) in enumerate(zip(columns, expected)) if a != b), min(len(columns), len(expected)))
        found = columns[wrong] if wrong < len(columns) else "<end of header>"
        wanted = expected[wrong] if wrong < len(expected) else "<end of header>"
        layout = "label, pixel0 … pixel783" if has_label else "pixel0 … pixel783"
        raise DataError(
            f"{source}: header has {len(columns)} columns, expected {len(expected)} ({layout}); "
            f"column {wrong + 1} is {found!r}, expected {wanted!r}"
        )
    frame.columns = expected

    labels = None
    if has_label:
        labels = check_frame(frame[["label"]], source, 0, 9)[:, 0].astype(np.uint8)
    pixels = check_frame(frame.iloc[:, int(has_label) :], source, 0, 255).astype(np.uint8)
    return pixels.reshape(-1, *IMAGE_SHAPE), labels


def write_submission(labels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write Kaggle's `ImageId,Label` CSV (ImageId from 1), validated first, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise DataError(f"submission needs one label per image, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise DataError("submission labels must be integers 0–9")
    if Path(path).is_dir():
        raise DataError(f"{path}: is a directory; name the submission file to write")
    frame = pd.DataFrame({"ImageId": np.arange(1, labels.size + 1), "Label": labels.astype(np.int64)})
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)
