"""Untrusted data files read with bounded memory: regular files only (no devices, FIFOs or directories),
gzip detected by content and decompressed as it is read, with a cap on the expansion ratio so that a
decompression bomb stops after a few megabytes instead of filling memory.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from types import TracebackType

from digitrec.errors import DataError
from digitrec.fileio import check_regular

GZIP_MAGIC = b"\x1f\x8b"
# Digit data compresses 4–10× (MNIST's IDX files 4.7×, Kaggle's CSVs 6–8×); a bomb of zeros, 1000×. Above
# this ratio a file is not digit data worth the memory and time it asks for.
MAX_RATIO = 100
_SLACK = 1 << 20  # the first megabyte may expand freely (headers, tiny files)


class DataStream(io.RawIOBase):
    """A readable binary stream over a file, transparently gunzipped, that raises `DataError` (naming the
    file) for corrupt gzip data or an expansion beyond `MAX_RATIO`."""

    def __init__(self, path: str | os.PathLike, what: str = "file"):
        super().__init__()
        self.name = str(path)
        self.size = check_regular(path, what).st_size
        try:
            self._raw = open(path, "rb")  # noqa: SIM115 (closed by close(); the stream outlives this call)
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        self.compressed = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self._inner: io.BufferedIOBase | gzip.GzipFile = (
            gzip.GzipFile(fileobj=self._raw) if self.compressed else self._raw
        )
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        try:
            data = self._inner.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{self.name}: corrupt gzip data ({exc})") from None
        self.produced += len(data)
        if self.compressed and self.produced > MAX_RATIO * self._raw.tell() + _SLACK:
            raise DataError(
                f"{self.name}: expands more than {MAX_RATIO}× when decompressed: not digit data (a decompression bomb?)"
            )
        return data

    def read_up_to(self, size: int) -> bytes:
        """`size` bytes, or fewer if the data ends first."""
        chunks, missing = [], size
        while missing:
            chunk = self.read(min(missing, 1 << 22))
            if not chunk:
                break
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            self._raw.close()
        super().close()

    def __enter__(self) -> DataStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
