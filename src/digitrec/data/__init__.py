"""Data sources (MNIST IDX, Kaggle CSV), validation and preparation.

Everything untrusted enters here and leaves as uint8 images (N, 28, 28) plus optional int labels (N,).

    prepare.py   normalisation, one-hot labels, the validation split (numpy only)
    sources.py   a data spec (`mnist`, `kaggle:DIR`, …) → a `Dataset`; idx.py, kaggle.py, download.py
    checks.py    validation of loaded arrays and CSV frames

`Dataset`, `load_dataset` and `parse_data_spec` load on first use: the inference path (`prepare`, IDX
streams) never pays for pandas, which only the Kaggle CSV reader needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitrec.data.sources import Dataset, load_dataset, parse_data_spec

__all__ = ["Dataset", "load_dataset", "parse_data_spec"]
_LAZY = {"Dataset": "sources", "load_dataset": "sources", "parse_data_spec": "sources"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"digitrec.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'digitrec.data' has no attribute {name!r}")
