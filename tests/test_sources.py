"""Data specs and dataset loading: `mnist`, `mnist:DIR`, `kaggle:DIR`, bare directories, $DIGITREC_DATA."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from digitrec.data import load_dataset, parse_data_spec
from digitrec.data.download import MNIST_FILES
from digitrec.data.idx import write_idx
from digitrec.data.sources import DataSpec, is_csv_name, iter_images_file, load_kaggle, load_mnist
from digitrec.errors import DataError

PIXELS = [f"pixel{i}" for i in range(784)]


def write_kaggle_dir(directory: Path, train_rows=4, test_rows=3, compressed=False) -> Path:
    rng = np.random.default_rng(1)
    directory.mkdir(parents=True, exist_ok=True)
    labels = np.arange(train_rows) % 10
    train = [",".join(["label", *PIXELS])] + [
        ",".join(map(str, [label, *rng.integers(0, 256, 784)])) for label in labels
    ]
    test = [",".join(PIXELS)] + [",".join(map(str, rng.integers(0, 256, 784))) for _ in range(test_rows)]
    for name, lines in (("train.csv", train), ("test.csv", test)):
        data = ("\r\n".join(lines) + "\r\n").encode()
        if compressed:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return directory


def write_tiny_mnist_dir(directory: Path) -> Path:
    """Well-formed IDX files under the four standard names, but not the published bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 6), ("t10k", 2)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", np.zeros((count, 28, 28), dtype=np.uint8))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count, dtype=np.uint8))
    return directory


# --- parse_data_spec ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv("DIGITREC_DATA", raising=False)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mnist", DataSpec("mnist", None)),
        (None, DataSpec("mnist", None)),
        ("mnist:some/dir", DataSpec("mnist", Path("some/dir"))),
        ("kaggle:some/dir", DataSpec("kaggle", Path("some/dir"))),
        ("kaggle:/abs/with:colon", DataSpec("kaggle", Path("/abs/with:colon"))),
    ],
)
def test_parse_spec(text, expected):
    spec = parse_data_spec(text)
    assert spec == expected
    assert parse_data_spec(str(spec)) == spec


def test_parse_spec_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_data_spec("kaggle:~/digits") == DataSpec("kaggle", tmp_path / "digits")


@pytest.mark.parametrize("text", ["kaggle:~no-such-user-here/x", "~no-such-user-here/x"])
def test_an_unknown_users_home_is_a_data_error(text):
    with pytest.raises(DataError, match="~no-such-user-here/x: no such user's home directory"):
        parse_data_spec(text)


def test_bare_directories_are_recognised_by_content(tmp_path):
    kaggle = write_kaggle_dir(tmp_path / "k", compressed=True)
    mnist = write_tiny_mnist_dir(tmp_path / "m")
    assert parse_data_spec(str(kaggle)) == DataSpec("kaggle", kaggle)
    assert parse_data_spec(str(mnist)) == DataSpec("mnist", mnist)


def test_environment_variable_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITREC_DATA", f"kaggle:{tmp_path}")
    assert parse_data_spec(None) == DataSpec("kaggle", tmp_path)
    assert parse_data_spec("mnist") == DataSpec("mnist", None)  # an explicit spec wins


@pytest.mark.parametrize("text", ["kaggle", "imagenet", "imagenet:dir", "no/such/dir"])
def test_unknown_spec(text):
    with pytest.raises(DataError, match="kaggle"):
        parse_data_spec(text)


def test_directory_with_neither_layout_is_unknown(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match="unknown data source"):
        parse_data_spec(str(tmp_path))


# --- loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mnist", "kaggle"])
def test_missing_directory(tmp_path, kind):
    with pytest.raises(DataError, match=f"{tmp_path / 'absent'}: not a directory"):
        load_dataset(f"{kind}:{tmp_path / 'absent'}")


def test_mnist_dir_without_files(tmp_path):
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_training_needs_only_the_train_files(shared_data, tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):  # links, not copies
        (tmp_path / name).symlink_to(shared_data / "mnist" / name)
    data = load_dataset(f"mnist:{tmp_path}", with_test=False)
    assert data.x_train.shape == (60_000, 28, 28) and data.y_train.shape == (60_000,)
    assert data.x_test is None and data.y_test is None
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset(f"mnist:{tmp_path}")


def test_synthetic_files_under_standard_mnist_names_fail_the_checksum(tmp_path):
    # load_mnist only knows the standard names, and those are pinned to the published bytes by design.
    directory = write_tiny_mnist_dir(tmp_path / "m")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: checksum mismatch"):
        load_dataset(f"mnist:{directory}")


@pytest.mark.parametrize("compressed", [False, True])
def test_kaggle_dir(tmp_path, compressed):
    directory = write_kaggle_dir(tmp_path, compressed=compressed)
    data = load_dataset(f"kaggle:{directory}")
    assert data.spec == DataSpec("kaggle", directory)
    assert data.x_train.shape == (4, 28, 28) and data.y_train.tolist() == [0, 1, 2, 3]
    assert data.x_test.shape == (3, 28, 28) and data.y_test is None
    assert load_dataset(str(directory), with_test=False).x_test is None


def test_kaggle_dir_without_test_file(tmp_path):
    directory = write_kaggle_dir(tmp_path)
    (directory / "test.csv").rename(directory / "test.csv.zip")  # a stray archive beside it is not the data
    (directory / "test.csv.bak").write_text("anything")
    assert load_kaggle(directory).x_test is None


def test_kaggle_dir_with_a_directory_for_train_file_names_it(tmp_path):
    directory = write_kaggle_dir(tmp_path)
    (directory / "train.csv").unlink()
    (directory / "train.csv").mkdir()
    with pytest.raises(DataError, match="train.csv: is a directory"):
        load_kaggle(directory)


def test_kaggle_dir_without_train_file(tmp_path):
    directory = write_kaggle_dir(tmp_path)
    (directory / "train.csv").unlink()
    with pytest.raises(DataError, match="missing train.csv"):
        load_kaggle(directory)


def test_kaggle_dir_with_bad_train_file_names_it(tmp_path):
    directory = write_kaggle_dir(tmp_path)
    (directory / "train.csv").write_text("label,pixel0\r\n1,2\r\n")
    with pytest.raises(DataError, match="train.csv: header has 2 columns"):
        load_dataset(f"kaggle:{directory}")


# --- single image files -------------------------------------------------------------------------------


def test_images_file_idx_flat_rows_are_reshaped(tmp_path):
    flat = np.arange(3 * 784, dtype=np.uint8).reshape(3, 784)
    write_idx(tmp_path / "flat.idx", flat)
    chunks = list(iter_images_file(tmp_path / "flat.idx", chunk=2))
    assert [len(c) for c in chunks] == [2, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), flat.reshape(3, 28, 28))


def test_images_file_idx_out_of_range(tmp_path):
    write_idx(tmp_path / "wide.idx", np.full((2, 28, 28), 300, dtype=np.int16))
    with pytest.raises(DataError, match="wide.idx: pixels must be integers 0–255"):
        list(iter_images_file(tmp_path / "wide.idx"))


def test_images_file_idx_without_images_is_an_error_as_a_csv_without_rows_is(tmp_path):
    write_idx(tmp_path / "none.idx", np.zeros((0, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="none.idx: holds no images"):
        list(iter_images_file(tmp_path / "none.idx"))


def test_images_file_idx_wrong_shape(tmp_path):
    write_idx(tmp_path / "small.idx", np.zeros((5000, 8, 8), dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"small.idx: expected entries of shape \(N, 28, 28\) or \(N, 784\), the file holds \(5000, 8, 8\)$",
    ):
        list(iter_images_file(tmp_path / "small.idx"))


def test_images_file_idx_shape_is_checked_on_the_header_before_any_data_is_read(tmp_path):
    """A 21-MB .gz announcing 40,000 × 40,000 items was read a whole chunk (3.2 GB) before its shape was."""
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (1, 40_000, 40_000))
    (tmp_path / "wide.idx.gz").write_bytes(gzip.compress(header))  # no data at all: reading any would fail
    with pytest.raises(DataError, match=r"the file holds \(1, 40000, 40000\)$"):
        list(iter_images_file(tmp_path / "wide.idx.gz"))


def test_images_file_csv(tmp_path):
    directory = write_kaggle_dir(tmp_path)
    [images] = iter_images_file(directory / "train.csv")
    assert images.shape == (4, 28, 28)


# --- real data and the download cache -----------------------------------------------------------------


def test_plain_mnist_spec_reads_the_cache_dir(shared_data, tmp_path, monkeypatch):
    """`mnist` loads from $DIGITREC_CACHE/mnist when the verified files are there (no download)."""
    cache = tmp_path / "cache"
    (cache / "mnist").mkdir(parents=True)
    for name in MNIST_FILES:
        (cache / "mnist" / name).symlink_to(shared_data / "mnist" / name)
    monkeypatch.setenv("DIGITREC_CACHE", str(cache))
    data = load_dataset("mnist")
    assert data.spec == DataSpec("mnist", None)
    assert data.x_train.shape == (60_000, 28, 28) and data.y_train.shape == (60_000,)
    assert data.x_test.shape == (10_000, 28, 28) and data.y_test.shape == (10_000,)


def test_real_mnist_dir(mnist):
    assert mnist.x_train.dtype == np.uint8 and mnist.y_train.dtype == np.uint8
    assert mnist.x_train.shape == (60_000, 28, 28) and mnist.x_test.shape == (10_000, 28, 28)
    assert np.bincount(mnist.y_test, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize(
    "name, csv", [("A.CSV", True), ("t.csv.GZ", True), ("digit.csv.png", False), ("csv", False), ("x.gz", False)]
)
def test_a_csv_is_named_csv_or_csv_gz_in_any_case(name, csv):
    assert is_csv_name(Path(name)) is csv
