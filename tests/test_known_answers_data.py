"""Known answers for data validation and preparation (digitrec.data.checks, digitrec.data.prepare), written to
kill the mutants that `make mutation` found surviving: boundaries of every range check, the exact message a user
reads (file, row, line, column, value), and the first offending cell when there are several."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digitrec.data.checks import check_frame, check_images, check_labels
from digitrec.data.prepare import normalize, one_hot, split
from digitrec.errors import DataError


def message(function, *args) -> str:
    with pytest.raises(DataError) as error:
        function(*args)
    return str(error.value)


# ---------------------------------------------------------------------------------------------- check_images


def test_check_images_keeps_uint8_as_is():
    images = np.zeros((1, 28, 28), np.uint8)
    assert check_images(images, "f") is images


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.uint16, np.int8])
def test_integer_images_within_0_255_become_uint8_with_the_same_values(dtype):
    images = np.zeros((2, 28, 28), dtype)
    images[1, 27, 27] = 127
    images[0, 0, 0] = 0
    if np.iinfo(dtype).max >= 255:
        images[0, 5, 5] = 255  # both ends of the range are allowed
    out = check_images(images, "f")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images.astype(np.int64))


@pytest.mark.parametrize(
    "images, expected",
    [
        (np.full((1, 28, 28), 256, np.int64), "f: pixels must be integers 0–255, got int64"),
        (np.full((1, 28, 28), -1, np.int16), "f: pixels must be integers 0–255, got int16"),
        (np.full((1, 28, 28), 0.0), "f: pixels must be integers 0–255, got float64"),
        (np.full((1, 28, 28), 255.0, np.float32), "f: pixels must be integers 0–255, got float32"),
        (np.zeros((1, 28, 28), bool), "f: pixels must be integers 0–255, got bool"),
        (np.zeros((0, 28, 28), np.uint8), "f: no images"),
        (np.zeros((0, 28, 28), np.int64), "f: no images"),
        (np.zeros((3, 28, 27), np.uint8), "f: expected images of shape (N, 28, 28), got (3, 28, 27)"),
        (np.zeros((28, 28), np.uint8), "f: expected images of shape (N, 28, 28), got (28, 28)"),
        (np.zeros((1, 28, 28, 1), np.uint8), "f: expected images of shape (N, 28, 28), got (1, 28, 28, 1)"),
    ],
)
def test_check_images_messages(images, expected):
    assert message(check_images, images, "f") == expected


def test_a_single_image_is_enough():
    assert check_images(np.full((1, 28, 28), 9, np.int32), "f").shape == (1, 28, 28)


# ---------------------------------------------------------------------------------------------- check_labels


def test_check_labels_accepts_0_to_9_and_returns_uint8():
    labels = np.arange(10, dtype=np.int64)
    out = check_labels(labels, 10, "l")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.arange(10))


@pytest.mark.parametrize(
    "labels, count, expected",
    [
        (np.array([1, 2, 3]), 4, "l: expected 4 labels, got shape (3,)"),
        (np.array([[1, 2], [3, 4]]), 2, "l: expected 2 labels, got shape (2, 2)"),
        (np.array([[1, 2, 3, 4]]), 1, "l: expected 1 labels, got shape (1, 4)"),
        (np.array(5), 1, "l: expected 1 labels, got shape ()"),
        (np.array([1.0, 2.0]), 2, "l: labels must be integers, got float64"),
        (np.array([3, 10, 4, -1]), 4, "l: label 10 at index 1 is outside 0–9"),
        (np.array([3, 4, -1, 10]), 4, "l: label -1 at index 2 is outside 0–9"),
        (np.array([9, 9, 9, 10], np.uint8), 4, "l: label 10 at index 3 is outside 0–9"),
        (np.array([255], np.uint8), 1, "l: label 255 at index 0 is outside 0–9"),
    ],
)
def test_check_labels_messages(labels, count, expected):
    assert message(check_labels, labels, count, "l") == expected


# ---------------------------------------------------------------------------------------------- check_frame


def frame(rows, columns=("a", "b", "c"), start=0) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns), index=range(start, start + len(rows)))


def test_check_frame_returns_int64_cells():
    out = check_frame(frame([[0, 5, 9], [9, 0, 1]]), "t.csv", 0, 9)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 5, 9], [9, 0, 1]])


def test_text_cells_that_are_integers_are_accepted():
    cells = frame([[" 7", "8 ", "2.0"], ["0", "+3", "9"]], start=0)
    out = check_frame(cells, "t.csv", 0, 9)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[7, 8, 2], [0, 3, 9]])


def test_float_cells_that_are_integers_are_accepted():
    out = check_frame(frame([[1.0, 2.0, 3.0]]), "t.csv", 0, 9)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[1, 2, 3]])


@pytest.mark.parametrize(
    "rows, lo, hi, expected",
    [
        ([[0, 1, 2], [3, 10, 4]], 0, 9, "t.csv: row 2 (line 3), column 'b': value 10 outside 0–9"),
        ([[0, 1, 2], [3, 4, -1]], 0, 9, "t.csv: row 2 (line 3), column 'c': value -1 outside 0–9"),
        ([[5, 4, 3]], 4, 5, "t.csv: row 1 (line 2), column 'c': value 3 outside 4–5"),
        ([[5, 6, 4]], 4, 5, "t.csv: row 1 (line 2), column 'b': value 6 outside 4–5"),
        # several bad cells: the first row that has one, then its first bad column
        ([[1, 1, 1], [1, 1, 99], [99, 1, 1]], 0, 9, "t.csv: row 2 (line 3), column 'c': value 99 outside 0–9"),
        ([[1, 99, 99]], 0, 9, "t.csv: row 1 (line 2), column 'b': value 99 outside 0–9"),
    ],
)
def test_out_of_range_cells(rows, lo, hi, expected):
    assert message(check_frame, frame(rows), "t.csv", lo, hi) == expected


def test_range_ends_are_inclusive():
    np.testing.assert_array_equal(check_frame(frame([[4, 5, 4]]), "t.csv", 4, 5), [[4, 5, 4]])
    np.testing.assert_array_equal(check_frame(frame([["4", "5", "4"]]), "t.csv", 4, 5), [[4, 5, 4]])


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([[1, 2, 3], [4, None, 6]], "t.csv: row 2 (line 3), column 'b': missing value"),
        ([[1, 2, np.nan], [np.nan, 5, 6]], "t.csv: row 1 (line 2), column 'c': missing value"),
        ([["1", "2", "3"], ["4", "x", "6"]], "t.csv: row 2 (line 3), column 'b': not a number: 'x'"),
        ([["1", "", "3"]], "t.csv: row 1 (line 2), column 'b': not a number: ''"),
        ([["1", "2", "3"], ["4", "5", "6.5"]], "t.csv: row 2 (line 3), column 'c': not an integer: '6.5'"),
        ([[1.0, 2.5, 3.0]], "t.csv: row 1 (line 2), column 'b': not an integer: 2.5"),
        ([[1.0, 2.0, 3.0], [1.5, 2.5, 3.0]], "t.csv: row 2 (line 3), column 'a': not an integer: 1.5"),
        ([["1", "2", "12"]], "t.csv: row 1 (line 2), column 'c': value '12' outside 0–9"),
    ],
)
def test_bad_cells_are_named_by_row_line_and_column(rows, expected):
    assert message(check_frame, frame(rows), "t.csv", 0, 9) == expected


def test_rows_are_numbered_by_the_frame_index_as_in_a_chunk_of_a_file():
    chunk = frame([[1, 2, 3], [4, 50, 6]], start=1024)  # the second chunk of 1,024 rows
    assert message(check_frame, chunk, "t.csv", 0, 9) == "t.csv: row 1026 (line 1027), column 'b': value 50 outside 0–9"
    missing = frame([[1.0, 2.0, 3.0], [np.nan, 5.0, 6.0]], start=2048)
    assert message(check_frame, missing, "t.csv", 0, 9) == "t.csv: row 2050 (line 2051), column 'a': missing value"


def test_an_empty_frame_has_no_data_rows():
    assert message(check_frame, frame([]), "t.csv", 0, 9) == "t.csv: no data rows"


def test_cells_in_messages_are_plain_python_values():
    # numpy would print np.float64(2.5) / np.int64(12): the message shows what the file says
    assert message(check_frame, frame([[1.0, 2.5, 3.0]]), "t.csv", 0, 9).endswith(": not an integer: 2.5")
    assert message(check_frame, frame([[1, 2, 12]]), "t.csv", 0, 9).endswith(": value 12 outside 0–9")


def test_real_kaggle_rows_pass_unchanged(shared_data):
    path = shared_data / "kaggle-digit-recognizer" / "train.csv.gz"
    rows = pd.read_csv(path, nrows=50)
    labels = check_frame(rows[["label"]], str(path), 0, 9)
    pixels = check_frame(rows.drop(columns="label"), str(path), 0, 255)
    np.testing.assert_array_equal(labels[:, 0], rows["label"].to_numpy())
    np.testing.assert_array_equal(pixels, rows.drop(columns="label").to_numpy())
    assert labels.dtype == pixels.dtype == np.int64


# ---------------------------------------------------------------------------------------------- prepare


def test_one_hot_of_integer_valued_float_labels():
    np.testing.assert_array_equal(one_hot(np.array([3.0, 0.0])), np.eye(10, dtype=np.float32)[[3, 0]])
    np.testing.assert_array_equal(one_hot([9, 1]), np.eye(10, dtype=np.float32)[[9, 1]])


def test_normalize_maps_each_level_to_level_over_255():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    np.testing.assert_array_equal(normalize(levels).ravel(), np.arange(256, dtype=np.float32) / np.float32(255))


def test_limit_takes_the_first_images():
    images = np.arange(10, dtype=np.uint8).repeat(28 * 28).reshape(10, 28, 28)
    labels = np.arange(10, dtype=np.uint8) % 2
    x_train, x_val, y_train, y_val = split(images, labels, 0.0, seed=0, limit=4)
    np.testing.assert_array_equal(x_train[:, 0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(y_train, [0, 1, 0, 1])
    assert len(x_val) == len(y_val) == 0
    x_train, x_val, y_train, y_val = split(images, labels, 0.5, seed=0, limit=8)
    assert sorted([*x_train[:, 0, 0], *x_val[:, 0, 0]]) == list(range(8))
    assert sorted(y_val.tolist()) == [0, 0, 1, 1]
    assert len(split(images, labels, 0.0, seed=0, limit=None).x_train) == 10


def test_too_few_images_for_a_stratified_split_is_a_data_error():
    from sklearn.model_selection import train_test_split

    images = np.zeros((5, 28, 28), np.uint8)
    labels = np.arange(5, dtype=np.uint8)  # one image per class: no class can be on both sides
    with pytest.raises(ValueError) as sklearn_error:
        train_test_split(images, labels, test_size=0.2, random_state=0, stratify=labels)
    reason = str(sklearn_error.value).splitlines()[0]
    expected = (
        f"5 images are too few for a stratified 20% validation split ({reason}); use more (--limit) or another data set"
    )
    assert message(split, images, labels, 0.2, 0) == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_check_frame_returns_int64_whatever_integer_type_the_parser_chose(dtype):
    out = check_frame(frame([[0, 5, 9]]).astype(dtype), "t.csv", 0, 9)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 5, 9]])
