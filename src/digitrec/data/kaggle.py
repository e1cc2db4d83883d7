"""Kaggle "Digit Recognizer" CSVs: `label,pixel0..pixel783` (train) or `pixel0..pixel783` (test)."""

from __future__ import annotations

import io
import os
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from digitrec.data.checks import IMAGE_SHAPE, PIXEL_COLUMNS, check_frame
from digitrec.data.streams import DataStream
from digitrec.errors import DataError
from digitrec.fileio import atomic_path

_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
MAX_HEADER_BYTES = 64 * 1024  # the real header is 785 names, 9 KB: a longer first line is not a Kaggle CSV
_SURPLUS = "(a field more than the header)"
MAX_ROW_BYTES = 64 * 1024  # a Kaggle row is at most ~3 KB (785 numbers of up to 3 digits and commas)
_ROW_TOKENS = re.compile(rb'["\n]')
CHUNK_ROWS = 1024  # rows parsed at a time: 28,000 rows cost ~55 MB (22 MB of them the images), not a GB


def iter_kaggle_csv(
    path: str | os.PathLike, labelled: bool | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Read a Kaggle CSV (plain or .gz) in chunks of uint8 images (n, 28, 28) and labels (n,) or None.

    The header line is read and checked before the CSV parser sees the file (its width is bounded, so a
    header of 200,000 columns costs nothing); rows are then parsed `chunk_rows` at a time, so memory
    follows the chunk, not the file. Every problem is a `DataError` naming file, row and column.
    `labelled=None` accepts either layout, telling them apart by the header.
    """
    source = str(path)
    with DataStream(path, "file") as stream, io.BufferedReader(stream) as buffered:
        has_label = _check_header(buffered, source, labelled)
        columns = (["label"] if has_label else []) + PIXEL_COLUMNS
        kept = 0
        ended = None  # the first of the empty rows that ended the last chunk: fine if only such rows follow
        try:
            reader = pd.read_csv(
                io.BufferedReader(_WithoutNul(buffered, source)),
                header=None,
                # One column more than the header: a row with one field too many fills it (without it
                # pandas takes a surplus field in the first row for a row index, shifting every column,
                # and drops it from later chunks' rows without a word); two or more too many is the
                # parser's error.
                names=[*columns, _SURPLUS],
                index_col=False,
                chunksize=chunk_rows,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,  # a skipped line would shift every row and line number after it
            )
            while (chunk := _next_quietly(reader)) is not None:
                surplus = np.flatnonzero(chunk.pop(_SURPLUS).notna().to_numpy())
                if surplus.size:
                    row = int(chunk.index[surplus[0]])
                    raise DataError(f"{source}: row {row + 1} (line {row + 2}) has more fields than the header")
                frame, ended = _trailing_empty_rows(chunk, ended, source)
                if frame.empty:
                    continue
                kept += len(frame)
                labels = check_frame(frame[["label"]], source, 0, 9)[:, 0].astype(np.uint8) if has_label else None
                pixels = check_frame(frame[PIXEL_COLUMNS], source, 0, 255).astype(np.uint8)
                yield pixels.reshape(-1, *IMAGE_SHAPE), labels
        except pd.errors.EmptyDataError:
            pass  # no rows after the header: reported below
        except pd.errors.ParserError as exc:
            raise DataError(f"{source}: {_parser_error_detail(exc)}") from None
        except (OSError, UnicodeDecodeError, EOFError, zlib.error, ValueError) as exc:
            raise DataError(f"{source}: cannot read as CSV ({type(exc).__name__}: {str(exc)[:200]})") from None
    if kept == 0:
        raise DataError(f"{source}: no data rows")


def _next_quietly(reader: Iterator[pd.DataFrame]) -> pd.DataFrame | None:
    """The next chunk, or None; pandas' warning about rows longer than the names is not printed (the
    surplus column reports those rows in one line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        return next(reader, None)


def _trailing_empty_rows(frame: pd.DataFrame, ended: int | None, source: str) -> tuple[pd.DataFrame, int | None]:
    """The chunk without the empty rows (blank lines) at its end, and the first of them, or `ended` if the
    chunk holds nothing else. Empty lines at the end of a file are an editor's; anywhere else they are an
    error, since skipping them would renumber the rows (and misalign a submission's ImageIds)."""
    if frame.empty:
        return frame, ended
    integers = all(pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes)  # a number in every cell
    empty = np.zeros(len(frame), bool) if integers else np.asarray(_blank_cells(frame).all(axis=1))
    if empty.all():
        return frame.iloc[:0], int(frame.index[0]) if ended is None else ended
    last = len(empty) - 1 - int(np.argmin(empty[::-1]))  # the last row with a value
    inner = np.flatnonzero(empty[:last])
    if ended is not None or inner.size:
        row = ended if ended is not None else int(frame.index[inner[0]])
        raise DataError(f"{source}: row {row + 1} (line {row + 2}) is empty")
    return frame.iloc[: last + 1], int(frame.index[last + 1]) if last + 1 < len(frame) else None


def read_kaggle_csv(path: str | os.PathLike, labelled: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load a whole Kaggle CSV (plain or .gz): uint8 images (N, 28, 28) and labels (N,) or None."""
    chunks = list(iter_kaggle_csv(path, labelled))
    images = np.concatenate([images for images, _ in chunks])
    labels = [labels for _, labels in chunks if labels is not None]
    return images, (np.concatenate(labels) if labels else None)


def _check_header(stream: io.BufferedIOBase, source: str, labelled: bool | None) -> bool:
    """Read the header line and check its names; returns whether the file has a label column."""
    line = stream.readline(MAX_HEADER_BYTES + 1)
    if not line:
        raise DataError(f"{source}: file is empty")
    if len(line) > MAX_HEADER_BYTES:
        raise DataError(f"{source}: the header line is longer than {MAX_HEADER_BYTES // 1024} KB: not a Kaggle CSV")
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name; quotes are CSV's
        columns = [name.strip().strip('"') for name in line.decode("utf-8-sig").rstrip("\r\n").split(",")]
    except UnicodeDecodeError:
        raise DataError(f"{source}: cannot read as CSV (the header is not text)") from None
    has_label = columns[0] == "label"
    expected = (["label"] if has_label else []) + PIXEL_COLUMNS
    if labelled is not None and has_label != labelled:
        want = "a 'label' column first" if labelled else "no 'label' column"
        raise DataError(f"{source}: expected {want} (header starts {columns[:2]})")
    if columns != expected:
        wrong = next((i for i, (a, b) in enumerate(zip(columns, expected)) if a != b), min(len(columns), len(expected)))
        found = columns[wrong][:40] if wrong < len(columns) else "<end of header>"  # a header may be one long name
        wanted = expected[wrong] if wrong < len(expected) else "<end of header>"
        layout = "label, pixel0 … pixel783" if has_label else "pixel0 … pixel783"
        raise DataError(
            f"{source}: header has {len(columns)} columns, expected {len(expected)} ({layout}); "
            f"column {wrong + 1} is {found!r}, expected {wanted!r}"
        )
    return has_label


class _WithoutNul(io.RawIOBase):
    """The rows' bytes, refusing a NUL byte (pandas' tokenizer ends a field at one without a word, so a cell
    `1<NUL>7` would read as 1) and a row longer than `MAX_ROW_BYTES` (pandas buffers a row whole: one
    quoted 1-GB cell cost 4 GiB). Rows end at line breaks outside quotes. The first row is line 2."""

    def __init__(self, inner: io.BufferedIOBase, source: str):
        super().__init__()
        self.inner, self.source, self.line = inner, source, 2
        self.row, self.row_line = 1, 2  # the current row (from 1) and the line it starts on
        self.row_bytes, self.quoted = 0, False  # the current row's length so far; inside a quoted cell

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        count = self.inner.readinto(buffer)
        data = bytes(memoryview(buffer)[:count])
        if (at := data.find(b"\0")) >= 0:
            line = self.line + data.count(b"\n", 0, at)
            raise DataError(f"{self.source}: row {line - 1} (line {line}) holds a NUL byte: not a text CSV")
        start = 0
        for token in _ROW_TOKENS.finditer(data):
            if token.group() == b'"':
                self.quoted = not self.quoted  # an escaped quote ("") toggles twice
            elif not self.quoted:
                self._check_row(self.row_bytes + token.start() - start)
                self.row_bytes, start = 0, token.end()
                self.row, self.row_line = self.row + 1, self.line + data.count(b"\n", 0, token.end())
        self.row_bytes += count - start
        self._check_row(self.row_bytes)
        self.line += data.count(b"\n")
        return count

    def _check_row(self, length: int) -> None:
        if length > MAX_ROW_BYTES:
            raise DataError(
                f"{self.source}: row {self.row} (line {self.row_line}) is longer than {MAX_ROW_BYTES // 1024} KB: "
                "not a Kaggle row (785 numbers are about 3 KB)"
            )


def _blank_cells(frame: pd.DataFrame) -> np.ndarray:
    """Missing or whitespace-only cells: a line of spaces at the end of a file is an editor's too."""
    blank = frame.isna().to_numpy()
    for position, dtype in enumerate(frame.dtypes):
        if pd.api.types.is_object_dtype(dtype):
            blank[:, position] |= frame.iloc[:, position].astype(str).str.strip().eq("").to_numpy()
    return blank


def _parser_error_detail(exc: Exception) -> str:
    """pandas' tokenizer error in our words; its line numbers count from the first data row (from 1, or
    from 0 for an open quote)."""
    detail = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
    if match := _FIELD_COUNT.search(detail):
        expected, line, saw = map(int, match.groups())
        return f"row {line} (line {line + 1}) has {saw} fields, expected {expected - 1}"  # less the surplus
    if match := _OPEN_QUOTE.search(detail):
        row = int(match.group(1)) + 1
        return f"row {row} (line {row + 1}) opens a quote that never closes"
    return f"malformed CSV: {detail[:200]}"


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
