"""Lines and fields of a Kaggle CSV: empty lines tolerated at the end of the file (an editor's), an error
anywhere else, since skipping one would renumber every row after it (and misalign a submission's
ImageIds); surplus fields, NUL bytes and open quotes named by their row and line, in every chunk."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.data.kaggle import iter_kaggle_csv, read_kaggle_csv
from digitrec.errors import DataError

from kaggle_files import TRAIN_HEADER, labelled_rows, read_error, sample, write_csv


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
@pytest.mark.parametrize("chunk_rows", [1, 2, 1024])
def test_empty_lines_at_the_end_are_ignored(tmp_path, name, chunk_rows):
    pixels, labels = sample(n=5)
    path = write_csv(tmp_path / name, TRAIN_HEADER, [*labelled_rows(pixels, labels), [], []])
    chunks = list(iter_kaggle_csv(path, chunk_rows=chunk_rows))
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]).reshape(5, 784), pixels)
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in chunks]), labels)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1024])
@pytest.mark.parametrize("empty_row", [1, 3, 4])
def test_an_empty_line_before_more_rows_is_named_by_its_line(tmp_path, chunk_rows, empty_row):
    pixels, labels = sample(n=5)
    rows = labelled_rows(pixels, labels)
    rows.insert(empty_row - 1, [])
    path = write_csv(tmp_path / "train.csv", TRAIN_HEADER, [*rows, []])
    with pytest.raises(DataError, match=rf"row {empty_row} \(line {empty_row + 1}\) is empty$"):
        list(iter_kaggle_csv(path, chunk_rows=chunk_rows))


def test_a_bad_cell_after_an_empty_line_at_the_end_of_a_chunk_is_on_its_own_line(tmp_path):
    pixels, labels = sample(n=4)
    rows = labelled_rows(pixels, labels)
    rows[3][5] = "x"
    rows.insert(2, [])  # the bad cell is now on row 5, line 6
    message = read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows))
    assert "row 3 (line 4) is empty" in message  # the first problem, where it is


def test_a_file_of_only_empty_lines_has_no_data_rows(tmp_path):
    assert "no data rows" in read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, [[], [], []]))


def test_a_row_of_empty_cells_before_the_end_is_an_empty_row(tmp_path):
    pixels, labels = sample(n=3)
    rows = labelled_rows(pixels, labels)
    rows[1] = [""] * 785
    assert read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)).endswith("row 2 (line 3) is empty")
    assert read_kaggle_csv(write_csv(tmp_path / "ok.csv", TRAIN_HEADER, rows[:1]))[0].shape == (1, 28, 28)


@pytest.mark.parametrize("chunk_rows", [1, 2, 1024])
@pytest.mark.parametrize("bad_row", [1, 3, 4])
def test_a_row_with_one_field_too_many_is_an_error_in_every_chunk(tmp_path, chunk_rows, bad_row):
    """pandas warned only about the first chunk's rows; in later chunks it dropped the field silently."""
    pixels, labels = sample(n=5)
    rows = labelled_rows(pixels, labels)
    rows[bad_row - 1].append(7)
    path = write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)
    with pytest.raises(DataError, match=rf"row {bad_row} \(line {bad_row + 1}\) has more fields than the header$"):
        list(iter_kaggle_csv(path, chunk_rows=chunk_rows))


def test_a_row_with_two_fields_too_many_names_the_header_width(tmp_path):
    pixels, labels = sample(n=3)
    rows = labelled_rows(pixels, labels)
    rows[1] += [7, 7]
    assert read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)).endswith(
        "row 2 (line 3) has 787 fields, expected 785"
    )


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_a_nul_byte_is_refused_not_read_as_the_end_of_a_cell(tmp_path, name):
    """pandas' tokenizer ends a field at a NUL: `1<NUL>7` was read as the label 1."""
    pixels, labels = sample(n=3)
    rows = labelled_rows(pixels, labels)
    rows[2][0] = f"{rows[2][0]}\0" + "7"
    message = read_error(write_csv(tmp_path / name, TRAIN_HEADER, rows))
    assert message.endswith("row 3 (line 4) holds a NUL byte: not a text CSV")


@pytest.mark.parametrize("bad_row", [1, 3])
def test_a_quote_that_never_closes_is_named_by_its_row_and_line(tmp_path, bad_row):
    pixels, labels = sample(n=3)
    rows = labelled_rows(pixels, labels)
    rows[bad_row - 1][0] = f'"{rows[bad_row - 1][0]}'
    message = read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows))
    assert message.endswith(f"row {bad_row} (line {bad_row + 1}) opens a quote that never closes")


@pytest.mark.parametrize("tail", [" ", "\t", "  \r\n"])
def test_lines_of_whitespace_at_the_end_are_empty_lines(tmp_path, tail):
    pixels, labels = sample(n=3)
    path = write_csv(tmp_path / "train.csv", TRAIN_HEADER, labelled_rows(pixels, labels))
    path.write_bytes(path.read_bytes() + f"{tail}\n\n".encode())
    assert read_kaggle_csv(path)[0].shape == (3, 28, 28)


def test_a_row_of_many_surplus_fields_is_one_line_without_pandas_warning(tmp_path, recwarn):
    pixels, labels = sample(n=3)
    rows = labelled_rows(pixels, labels)
    rows[0] += [1, 2, 3]
    assert read_error(write_csv(tmp_path / "train.csv", TRAIN_HEADER, rows)).endswith(
        "row 1 (line 2) has more fields than the header"
    )
    assert not [w for w in recwarn if "names does not match" in str(w.message)]
