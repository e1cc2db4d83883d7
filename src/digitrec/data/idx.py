"""Read and write IDX files (the MNIST format), plain or gzip-compressed, with strict header checks."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitrec.data.streams import GZIP_MAGIC, DataStream
from digitrec.errors import DataError
from digitrec.fileio import atomic_path, read_capped

# IDX type codes → big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
MAX_DIMS = 16  # numpy allows 64; IDX files of digits have 1–3
MAX_PAYLOAD = 2 << 30  # the most data one IDX file may load into memory at once (MNIST train: 47 MB)

# The four standard MNIST files: (size in bytes, sha256) of the published .gz and of its decompressed form.
STANDARD_FILES = {
    "train-images-idx3-ubyte": {
        "gz": (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "raw": (47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    },
    "train-labels-idx1-ubyte": {
        "gz": (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "raw": (60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    },
    "t10k-images-idx3-ubyte": {
        "gz": (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "raw": (7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    },
    "t10k-labels-idx1-ubyte": {
        "gz": (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        "raw": (10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _standard_checksum(path: Path, size: int) -> None:
    """If `path` carries a standard MNIST name, its bytes must be the published ones."""
    stem = path.name.removesuffix(".gz")
    known = STANDARD_FILES.get(stem)
    if known is None:
        return
    with open(path, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
    expected_size, digest = known["gz" if compressed else "raw"]
    if size != expected_size or sha256_of(read_capped(path, expected_size)) != digest:
        raise DataError(
            f"{path}: checksum mismatch for the standard MNIST file {path.name} "
            f"(expected {expected_size} bytes, sha256 {digest[:12]}…); the file is corrupt or not the original"
        )


class Header(NamedTuple):
    dtype: np.dtype
    dims: tuple[int, ...]
    size: int  # header bytes

    @property
    def payload(self) -> int:
        """Bytes of data the header announces (Python ints: a crafted header cannot wrap around)."""
        return math.prod(self.dims) * self.dtype.itemsize


def looks_like_idx(head: bytes) -> bool:
    """Whether a file's first 4 bytes are an IDX magic number: two zero bytes, a type code, a dimension
    count. Other formats start with two zero bytes too (AVIF, HEIC and ICO images), never with these."""
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _DTYPES and head[3] > 0


def parse_header(head: bytes, name: str) -> Header:
    """The IDX header at the start of `head` (which must hold all of it); the magic number checked."""
    if len(head) < 4:
        raise DataError(f"{name}: too short for an IDX file ({len(head)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", head[:4])
    if zero != 0 or code not in _DTYPES or ndim == 0:
        raise DataError(f"{name}: bad IDX magic number 0x{head[:4].hex()} (expected 0x0000TTDD)")
    if ndim > MAX_DIMS:
        raise DataError(f"{name}: an IDX file of {ndim} dimensions (at most {MAX_DIMS} supported)")
    size = 4 + 4 * ndim
    if len(head) < size:
        raise DataError(f"{name}: truncated IDX header ({len(head)} bytes, needs {size})")
    return Header(_DTYPES[code], struct.unpack(f">{ndim}I", head[4:size]), size)


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_PAYLOAD) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not (detected by content, not by name), into memory.

    The header is checked before any data is read: a plain file must be exactly as long as it announces,
    and no file may announce more than `max_bytes` of data; a compressed one is decompressed only as far
    as it announces (`digitrec.data.streams`), so memory follows the header, never a compressor's claims.
    """
    path = Path(path)
    with DataStream(path, "file") as stream:
        _standard_checksum(path, stream.size)
        header = read_header(stream)
        expected = header.size + header.payload
        if not stream.compressed and stream.size != expected:  # a plain file's size is known before reading
            raise _size_mismatch(path, header, str(stream.size))
        if header.payload > max_bytes:
            raise DataError(
                f"{path}: announces {header.payload:,} bytes of data, more than the {max_bytes:,} "
                "that can be loaded at once"
            )
        # One byte more than announced: a compressed file's surplus shows without decompressing it.
        payload = stream.read_up_to(header.payload + 1)
        if len(payload) != header.payload:
            more = "more than " if len(payload) > header.payload else ""
            raise _size_mismatch(path, header, f"{more}{header.size + len(payload)}")
    return _array(payload, header, path)


def iter_idx(
    path: str | os.PathLike, chunk_items: int = 4096, item_shapes: tuple[tuple[int, ...], ...] | None = None
) -> Iterator[np.ndarray]:
    """Read an IDX file (plain or gzip) `chunk_items` entries of its first axis at a time: memory follows
    the chunk, whatever the file's length. The sizes are checked as in `read_idx` (a plain file before any
    data is read; a compressed one as it ends), so the last chunk comes only from a file that is whole.
    `item_shapes`: the shapes its entries may have, checked on the header, before any data is read (a
    chunk of 4,096 entries of 40,000 × 40,000 would be gigabytes)."""
    path = Path(path)
    with DataStream(path, "file") as stream:
        _standard_checksum(path, stream.size)
        header = read_header(stream)
        if not stream.compressed and stream.size != header.size + header.payload:
            raise _size_mismatch(path, header, str(stream.size))
        if item_shapes is not None and header.dims[1:] not in item_shapes:
            wanted = " or ".join(str(("N", *shape)).replace("'", "") for shape in item_shapes)
            raise DataError(f"{path}: expected entries of shape {wanted}, the file holds {header.dims}")
        item_bytes = math.prod(header.dims[1:]) * header.dtype.itemsize
        count, done = header.dims[0], 0
        if count and not item_bytes:
            raise DataError(f"{path}: impossible IDX dimensions {'×'.join(map(str, header.dims))}")
        while done < count:
            take = min(chunk_items, count - done)
            payload = stream.read_up_to(take * item_bytes)
            if len(payload) != take * item_bytes:
                raise _size_mismatch(path, header, str(header.size + done * item_bytes + len(payload)))
            chunk_header = Header(header.dtype, (take, *header.dims[1:]), header.size)
            done += take
            if done == count and stream.read(1):
                raise _size_mismatch(path, header, f"more than {header.size + header.payload}")
            yield _array(payload, chunk_header, path)


def _array(payload: bytes, header: Header, path: Path) -> np.ndarray:
    try:  # numpy refuses dimensions whose product overflows even when another one is 0
        data = np.frombuffer(payload, dtype=header.dtype).reshape(header.dims)
    except ValueError:
        raise DataError(f"{path}: impossible IDX dimensions {'×'.join(map(str, header.dims))}") from None
    return data.astype(header.dtype.newbyteorder("="))


def _size_mismatch(path: Path, header: Header, actual: str) -> DataError:
    return DataError(
        f"{path}: header says {'×'.join(map(str, header.dims))} items "
        f"({header.size + header.payload} bytes) but the file has {actual} bytes"
    )


def read_header(stream: DataStream) -> Header:
    head = stream.read(4)
    ndim = head[3] if len(head) == 4 else 0
    return parse_header(head + stream.read(4 * min(ndim, MAX_DIMS)), stream.name)


def encode_idx(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX cannot store an array of {array.ndim} dimensions")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(_DTYPES[code], copy=False).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as IDX, gzip-compressed when the name ends in .gz; atomically."""
    path = Path(path)
    payload = encode_idx(array)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
