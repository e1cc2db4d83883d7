"""Read and write IDX files (the MNIST format), plain or gzip-compressed, with strict header checks."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from digitrec.errors import DataError
from digitrec.fileio import atomic_path

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
GZIP_MAGIC = b"\x1f\x8b"

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


def _standard_checksum(path: Path, blob: bytes, compressed: bool) -> None:
    """If `path` carries a standard MNIST name, its bytes must be the published ones."""
    stem = path.name.removesuffix(".gz")
    known = STANDARD_FILES.get(stem)
    if known is None:
        return
    size, digest = known["gz" if compressed else "raw"]
    if len(blob) != size or sha256_of(blob) != digest:
        raise DataError(
            f"{path}: checksum mismatch for the standard MNIST file {path.name} "
            f"(expected {size} bytes, sha256 {digest[:12]}…); the file is corrupt or not the original"
        )


def decode_idx(payload: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an uncompressed IDX payload, checking the magic number and that sizes add up exactly."""
    if len(payload) < 4:
        raise DataError(f"{name}: too short for an IDX file ({len(payload)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", payload[:4])
    if zero != 0 or code not in _DTYPES or ndim == 0:
        raise DataError(f"{name}: bad IDX magic number 0x{payload[:4].hex()} (expected 0x0000TTDD)")
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise DataError(f"{name}: truncated IDX header ({len(payload)} bytes, needs {header_size})")
    dims = struct.unpack(f">{ndim}I", payload[4:header_size])
    dtype = _DTYPES[code]
    expected = header_size + math.prod(dims) * dtype.itemsize  # Python ints: a crafted header cannot wrap
    if len(payload) != expected:
        raise DataError(
            f"{name}: header says {'×'.join(map(str, dims))} items ({expected} bytes) "
            f"but the file has {len(payload)} bytes"
        )
    data = np.frombuffer(payload, dtype=dtype, offset=header_size).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not (detected by content, not by name)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    compressed = blob[:2] == GZIP_MAGIC
    _standard_checksum(path, blob, compressed)
    if compressed:
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    return decode_idx(blob, str(path))


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
