"""Where data comes from: a spec such as `mnist`, `mnist:DIR` or `kaggle:DIR`, resolved to arrays."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.data.checks import check_images, check_labels
from digitrec.data.idx import iter_idx, read_idx
from digitrec.errors import DataError

# The Kaggle CSV reader (pandas, ~0.3 s to import) loads when a CSV is read and the downloader (http, ssl)
# when MNIST is fetched: predicting on images or IDX files pays for neither.

ENV_VAR = "DIGITREC_DATA"
KINDS = ("mnist", "kaggle")


@dataclass(frozen=True)
class DataSpec:
    kind: str  # "mnist" or "kaggle"
    path: Path | None  # None: the download cache (mnist only)

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


@dataclass
class Dataset:
    """uint8 images (N, 28, 28) and uint8 labels; the test part may be unlabelled (Kaggle) or absent."""

    spec: DataSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def is_csv_name(path: Path) -> bool:
    """A Kaggle CSV by its name: `.csv` or `.csv.gz`, in any case (`digit.csv.png` is an image)."""
    name = path.name.lower()
    return name.endswith((".csv", ".csv.gz"))


def _expand(text: str) -> Path:
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~user for a user this system does not know
        raise DataError(f"{text}: no such user's home directory") from None


def parse_data_spec(text: str | None) -> DataSpec:
    """Parse `mnist`, `mnist:DIR` or `kaggle:DIR`; None falls back to $DIGITREC_DATA, then to `mnist`.

    A bare directory is accepted too: it is MNIST if it holds IDX files, Kaggle if it holds train.csv.
    """
    text = text or os.environ.get(ENV_VAR) or "mnist"
    kind, sep, rest = text.partition(":")
    if kind in KINDS:
        if not sep:
            if kind == "kaggle":
                raise DataError("kaggle data needs a directory: --data kaggle:DIR")
            return DataSpec("mnist", None)
        return DataSpec(kind, _expand(rest))
    path = _expand(text)
    if path.is_dir():
        if any(path.glob("train.csv*")):
            return DataSpec("kaggle", path)
        if any(path.glob("train-images-idx3-ubyte*")):
            return DataSpec("mnist", path)
    raise DataError(f"unknown data source {text!r}: use mnist, mnist:DIR or kaggle:DIR")


def _find(directory: Path, stem: str) -> Path:
    if (found := _existing(directory, stem)) is None:
        raise DataError(f"{directory}: missing {stem}[.gz]")
    return found


def _existing(directory: Path, stem: str) -> Path | None:
    """`stem` or `stem.gz` in `directory`, whichever exists (a directory or FIFO there is refused, by name,
    when it is read); nothing else matches (test.csv.zip or test.csv.bak beside it are not the data)."""
    return next((path for path in (directory / stem, directory / f"{stem}.gz") if path.exists()), None)


def load_mnist(directory: Path | None, with_test: bool = True) -> Dataset:
    """MNIST's train set and, `with_test`, its t10k set (training reads only the former: a folder of the two
    train files is enough for it)."""
    spec = DataSpec("mnist", directory)
    if directory is None:
        from digitrec.data.download import ensure_mnist  # noqa: PLC0415 (see the module imports)

        directory = ensure_mnist()
    elif not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    arrays: dict[str, tuple] = {"test": (None, None)}
    for part, prefix in (("train", "train"), ("test", "t10k"))[: 2 if with_test else 1]:
        img_path = _find(directory, f"{prefix}-images-idx3-ubyte")
        lbl_path = _find(directory, f"{prefix}-labels-idx1-ubyte")
        images = check_images(read_idx(img_path), str(img_path))
        arrays[part] = images, check_labels(read_idx(lbl_path), len(images), str(lbl_path))
    return Dataset(spec, *arrays["train"], *arrays["test"])


def load_kaggle(directory: Path, with_test: bool = True) -> Dataset:
    from digitrec.data.kaggle import read_kaggle_csv  # noqa: PLC0415 (pandas: see the module imports)

    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    x_train, y_train = read_kaggle_csv(_find(directory, "train.csv"), labelled=True)
    x_test = None
    if with_test and (test := _existing(directory, "test.csv")) is not None:
        x_test, _ = read_kaggle_csv(test, labelled=False)
    if y_train is None:
        raise DataError(f"{directory}: train.csv has no labels")
    return Dataset(DataSpec("kaggle", directory), x_train, y_train, x_test, None)


def load_dataset(spec: DataSpec | str | None, with_test: bool = True) -> Dataset:
    if not isinstance(spec, DataSpec):
        spec = parse_data_spec(spec)
    if spec.kind == "mnist" or spec.path is None:
        return load_mnist(spec.path, with_test=with_test)
    return load_kaggle(spec.path, with_test=with_test)


def iter_images_file(path: str | os.PathLike, chunk: int = 4096) -> Iterator[np.ndarray]:
    """The images of one IDX or Kaggle CSV file (by name: .csv), uint8 (n, 28, 28), `chunk` at a time."""
    path = Path(path)
    if is_csv_name(path):
        from digitrec.data.kaggle import CHUNK_ROWS, iter_kaggle_csv  # noqa: PLC0415 (pandas: see the imports)

        for images, _ in iter_kaggle_csv(path, chunk_rows=min(chunk, CHUNK_ROWS)):
            yield images
        return
    empty = True
    for part in iter_idx(path, chunk, item_shapes=((28, 28), (784,))):
        images = part.reshape(-1, 28, 28) if part.ndim == 2 and part.shape[1] == 784 else part
        if len(images):
            empty = False
            yield check_images(images, str(path))
    if empty:  # as a CSV without rows is: an answer for nothing is not an answer
        raise DataError(f"{path}: holds no images")
