"""Data sources (MNIST IDX, Kaggle CSV), validation and preparation.

Everything untrusted enters here and leaves as uint8 images (N, 28, 28) plus optional int labels (N,).
"""

from digitrec.data.sources import Dataset, load_dataset, parse_data_spec

__all__ = ["Dataset", "load_dataset", "parse_data_spec"]
