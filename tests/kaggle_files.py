"""Small Kaggle-layout CSVs written like the real files, for the CSV reader's tests."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from digitrec.data.kaggle import read_kaggle_csv
from digitrec.errors import DataError

PIXELS = [f"pixel{i}" for i in range(784)]
TRAIN_HEADER = ["label", *PIXELS]


def write_csv(path, header, rows, newline="\r\n"):
    """Write `rows` (lists of cells, any type) like the real files: CRLF line ends, gzip for .gz."""
    text = newline.join(",".join(map(str, cells)) for cells in [header, *rows]) + newline
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def sample(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 784)), rng.integers(0, 10, size=n)


def labelled_rows(pixels, labels):
    return [[label, *row] for label, row in zip(labels.tolist(), pixels.tolist(), strict=True)]


def read_error(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_kaggle_csv(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    return message
