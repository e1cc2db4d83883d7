"""Kaggle CSV reading: good files in both layouts, and every malformed case named by file, row and column."""

from __future__ import annotations

import csv
import gzip
import warnings

import numpy as np
import pytest

from digitrec.data.kaggle import read_kaggle_csv
from digitrec.data.sources import iter_images_file

from kaggle_files import PIXELS, TRAIN_HEADER, labelled_rows, read_error, sample, write_csv


def bad_cell_file(tmp_path, row, column, value):
    """A labelled file of 3 good rows with one cell replaced; `row` is 1-based, `column` a header name."""
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    rows[row - 1][TRAIN_HEADER.index(column)] = value
    return write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)


# --- good files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
@pytest.mark.parametrize("labelled", [True, None])
def test_labelled_file(tmp_path, name, labelled):
    pixels, labels = sample()
    path = write_csv(tmp_path / name, TRAIN_HEADER, labelled_rows(pixels, labels))
    images, got_labels = read_kaggle_csv(path, labelled=labelled)
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28)
    assert got_labels.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(3, 784), pixels)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("name", ["test.csv", "test.csv.gz"])
@pytest.mark.parametrize("labelled", [False, None])
def test_unlabelled_file(tmp_path, name, labelled):
    pixels, _ = sample(n=4)
    path = write_csv(tmp_path / name, PIXELS, pixels.tolist())
    images, labels = read_kaggle_csv(path, labelled=labelled)
    assert labels is None
    np.testing.assert_array_equal(images.reshape(4, 784), pixels)


def test_row_major_pixel_order(tmp_path):
    pixels = np.zeros((1, 784), dtype=int)
    pixels[0, 28 * 3 + 5] = 200  # pixel89 is row 3, column 5 of the image
    images, _ = read_kaggle_csv(write_csv(tmp_path / "test.csv", PIXELS, pixels.tolist()))
    assert images[0, 3, 5] == 200 and images.sum() == 200


def test_unix_line_ends_and_integral_floats_are_accepted(tmp_path):
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    rows[1][7] = f"{rows[1][7]}.0"
    images, _ = read_kaggle_csv(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows, newline="\n"))
    np.testing.assert_array_equal(images.reshape(3, 784), pixels)


# --- bad cells: the message names file, row and column ----------------------------------------------


@pytest.mark.parametrize(
    "row, column, value, problem",
    [
        (2, "pixel10", "", "missing value"),
        (1, "label", "", "missing value"),
        (3, "pixel4", "NA", "not a number: 'NA'"),
        (2, "pixel783", "N/A", "not a number: 'N/A'"),
        (1, "pixel0", "null", "not a number: 'null'"),
        (2, "pixel300", "abc", "not a number: 'abc'"),
        (2, "pixel300", "0x10", "not a number: '0x10'"),
        (3, "pixel12", 256, "value 256 outside 0–255"),
        (1, "pixel5", -1, "value -1 outside 0–255"),
        (2, "label", 10, "value 10 outside 0–9"),
        (2, "label", -1, "value -1 outside 0–9"),
        (1, "pixel100", 1.5, "not an integer: 1.5"),
        (3, "label", 2.5, "not an integer: 2.5"),
        (2, "pixel300", "inf", "value inf outside 0–255"),
        (1, "pixel9", "99999999999999999999999", "value '99999999999999999999999' outside 0–255"),
        (2, "pixel7", "x" * 50_000, f"not a number: '{'x' * 39}…"),  # a message is one short line
    ],
)
def test_bad_cell(tmp_path, row, column, value, problem):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one line: no RuntimeWarning from a cast on the way
        message = read_error(bad_cell_file(tmp_path, row, column, value))
    assert f"row {row} (line {row + 1}), column {column!r}: {problem}" in message


def test_true_and_false_are_words_not_labels(tmp_path):
    """A column of only True/False is parsed as booleans; they are not the labels 1 and 0."""
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    for row, word in zip(rows, ["True", "False", "TRUE"], strict=False):
        row[0] = word
    assert "row 1 (line 2), column 'label': not a number: True" in read_error(
        write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)
    )


def test_first_bad_cell_is_reported(tmp_path):
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    rows[2][5] = 999
    rows[1][700] = 300
    message = read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows))
    assert "row 2 (line 3), column 'pixel699'" in message


def test_row_with_too_few_fields(tmp_path):
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    rows[1] = rows[1][:-3]
    assert "row 2 (line 3), column 'pixel781': missing value" in read_error(
        write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)
    )


@pytest.mark.parametrize("bad_row", [1, 2, 3])
def test_row_with_too_many_fields(tmp_path, bad_row):
    pixels, labels = sample()
    rows = labelled_rows(pixels, labels)
    rows[bad_row - 1].append(0)
    message = read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows))
    assert f"row {bad_row} (line {bad_row + 1}) has" in message and "fields" in message


def test_every_row_with_a_surplus_leading_field_is_not_shifted_silently(tmp_path):
    # pandas would take the surplus first field for a row index and read every column one place off.
    pixels, labels = sample()
    rows = [[i, *row] for i, row in enumerate(labelled_rows(pixels, labels))]
    assert "row 1 (line 2) has more fields than the header" in read_error(
        write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)
    )


# --- bad headers and layouts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, where",
    [
        (["Label", *PIXELS], "column 1 is 'Label', expected 'pixel0'"),
        (["label", *PIXELS[:5], "pixel_5", *PIXELS[6:]], "column 7 is 'pixel_5', expected 'pixel5'"),
        (["label", *PIXELS[1:], "pixel0"], "column 2 is 'pixel1', expected 'pixel0'"),
        (["label", *PIXELS[:-1], "pixel783 "], None),  # surrounding spaces are tolerated
    ],
    ids=["capitalised-label", "misspelt-pixel", "reordered", "padded"],
)
def test_header_names(tmp_path, header, where):
    pixels, labels = sample()
    path = write_csv(tmp_path / "train.csv", header, labelled_rows(pixels, labels))
    if where is None:
        assert read_kaggle_csv(path)[0].shape == (3, 28, 28)
    else:
        assert where in read_error(path)


@pytest.mark.parametrize("header_columns", [784, 786])
def test_header_column_count(tmp_path, header_columns):
    header = ["label", *(f"pixel{i}" for i in range(header_columns - 1))]
    pixels, labels = sample()
    rows = [row[:header_columns] + [0] * (header_columns - len(row)) for row in labelled_rows(pixels, labels)]
    message = read_error(write_csv(tmp_path / "train.csv", header, rows))
    assert f"header has {header_columns} columns, expected 785" in message


def test_empty_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"")
    assert "file is empty" in read_error(path)


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_header_only(tmp_path, name):
    assert "no data rows" in read_error(write_csv(tmp_path / name, TRAIN_HEADER, []))


def test_labelled_expected_but_test_layout_given(tmp_path):
    path = write_csv(tmp_path / "test.csv", PIXELS, sample()[0].tolist())
    assert "expected a 'label' column first" in read_error(path, labelled=True)


def test_unlabelled_expected_but_train_layout_given(tmp_path):
    pixels, labels = sample()
    path = write_csv(tmp_path / "train.csv", TRAIN_HEADER, labelled_rows(pixels, labels))
    assert "expected no 'label' column" in read_error(path, labelled=False)


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, b"\x00\x00\x08\x03" + bytes(1000), b"PK\x03\x04" + bytes(200)],
    ids=["png", "idx", "zip"],
)
def test_binary_file(tmp_path, content):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    read_error(path)  # a DataError naming the file, never a pandas or codec traceback


def test_corrupt_gzip(tmp_path):
    pixels, labels = sample()
    path = write_csv(tmp_path / "train.csv.gz", TRAIN_HEADER, labelled_rows(pixels, labels))
    damaged = bytearray(path.read_bytes())
    damaged[10] |= 0b110  # reserved deflate block type: zlib.error inside the decompressor
    path.write_bytes(bytes(damaged))
    assert "corrupt gzip data" in read_error(path)


def test_missing_file(tmp_path):
    assert "no such file" in read_error(tmp_path / "train.csv")


# --- the real competition files -----------------------------------------------------------------------


def first_rows_by_csv_module(path, count):
    """The first `count` data rows as int lists, parsed without pandas (an independent reading)."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [list(map(int, next(reader))) for _ in range(count)]


def test_real_train_csv(shared_data):
    path = shared_data / "kaggle-digit-recognizer" / "train.csv.gz"
    images, labels = read_kaggle_csv(path, labelled=True)
    assert images.shape == (42000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (42000,) and set(np.unique(labels)) == set(range(10))
    for i, row in enumerate(first_rows_by_csv_module(path, 5)):
        assert labels[i] == row[0]
        assert int(images[i].sum()) == sum(row[1:])
        np.testing.assert_array_equal(images[i].ravel(), row[1:])


def test_real_test_csv(shared_data):
    path = shared_data / "kaggle-digit-recognizer" / "test.csv.gz"
    images, labels = read_kaggle_csv(path)
    assert labels is None
    assert images.shape == (28000, 28, 28) and images.dtype == np.uint8
    for i, row in enumerate(first_rows_by_csv_module(path, 5)):
        assert int(images[i].sum()) == sum(row)


def test_a_byte_order_mark_and_quoted_names_are_csv_not_a_bad_header(tmp_path):
    """Excel saves UTF-8 CSVs with a BOM and may quote every field: the same table."""
    pixels, labels = sample()
    path = write_csv(tmp_path / "excel.csv", [f'"{name}"' for name in TRAIN_HEADER], labelled_rows(pixels, labels))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    images, read_labels = read_kaggle_csv(path)
    np.testing.assert_array_equal(images.reshape(3, 784), pixels)
    np.testing.assert_array_equal(read_labels, labels)


def test_a_header_of_one_long_name_is_reported_briefly(tmp_path):
    path = tmp_path / "semicolons.csv"
    path.write_text(";".join(TRAIN_HEADER) + "\n" + ";".join(["1"] * 785) + "\n")
    message = read_error(path)
    assert "column 1 is 'label;pixel0;pixel1;pixel2;pixel3;pixel4'" in message and len(message) < 400


def test_an_upper_case_csv_name_is_a_csv(tmp_path):
    pixels, _ = sample()
    path = write_csv(tmp_path / "TEST.CSV", PIXELS, pixels.tolist())
    np.testing.assert_array_equal(np.concatenate(list(iter_images_file(path))).reshape(3, 784), pixels)


@pytest.mark.parametrize(
    "cell",
    [
        '"' + "7" * 300_000 + '"',  # one quoted cell of 300 KB
        '"' + "1\n" * 150_000 + '"',  # line breaks inside quotes do not end the row
        "9" * 300_000,  # unquoted
    ],
)
def test_a_row_longer_than_any_kaggle_row_is_refused_as_it_is_read(tmp_path, cell):
    """pandas buffers a row whole (a 1-GB quoted cell cost 4 GiB): a row past 64 KB is refused on the way in."""
    pixels, labels = sample(3)
    rows = labelled_rows(pixels, labels)
    rows[1][5] = cell
    path = tmp_path / "train.csv"
    with path.open("w", newline="") as handle:
        handle.write(",".join(TRAIN_HEADER) + "\n")
        for row in rows:
            handle.write(",".join(map(str, row)) + "\n")
    assert (
        read_error(path)
        == f"{path}: row 2 (line 3) is longer than 64 KB: not a Kaggle row (785 numbers are about 3 KB)"
    )
