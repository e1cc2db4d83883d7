"""Kaggle "Digit Recognizer" CSVs: `label,pixel0..pixel783` (train) or `pixel0..pixel783` (test)."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from digitrec.data.checks import IMAGE_SHAPE, PIXEL_COLUMNS, check_frame
from digitrec.errors import DataError


def read_kaggle_csv(path: str | os.PathLike, labelled: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a Kaggle CSV (plain or .gz) into uint8 images (N, 28, 28) and labels (N,) or None.

    `labelled=None` accepts either layout, telling them apart by the header.
    """
    path = Path(path)
    source = str(path)
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], compression="infer")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: file is empty") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise DataError(f"{source}: malformed CSV: {detail}") from None
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
        raise DataError(
            f"{source}: header has {len(columns)} columns, expected {len(expected)} "
            f"({expected[0]}, pixel0 … pixel783); column {wrong + 1} is {found!r}"
        )
    frame.columns = expected

    labels = None
    if has_label:
        labels = check_frame(frame[["label"]], source, 0, 9)[:, 0].astype(np.uint8)
    pixels = check_frame(frame[PIXEL_COLUMNS], source, 0, 255).astype(np.uint8)
    return pixels.reshape(-1, *IMAGE_SHAPE), labels
