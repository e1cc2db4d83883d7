"""Hostile and careless inputs, built on the fly: decompression bombs, absurd headers, files that are not
files. Shared by the hostile-input tests and `benchmarks/serve_load.py` (which puts tests/ on its path)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PIXEL_HEADER = ",".join(f"pixel{i}" for i in range(784))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def png_strip() -> bytes:
    """A PNG of 1 × 40,000,000 pixels: 40 MB decoded from a few dozen KB, under Pillow's bomb limit."""
    return png(Image.new("L", (40_000_000, 1), 255))


def png_large_blank() -> bytes:
    """A blank 6000 × 6000 RGBA PNG (36 MP, within the limit): the most a photo may decode to."""
    return png(Image.new("RGBA", (6000, 6000), (255, 255, 255, 255)))


def jpeg_huge() -> bytes:
    """A 12000 × 12000 JPEG (144 MP): decodable only at a reduced scale."""
    buffer = io.BytesIO()
    Image.new("L", (12000, 12000), 240).save(buffer, "JPEG", quality=50)
    return buffer.getvalue()


def jpeg_many_scans(size: int = 320, total: int = 512 * 1024) -> bytes:
    """A size × size progressive JPEG whose last scan is repeated up to `total` bytes: each copy is decoded
    in turn (libjpeg only warns). 256 KiB hold ~3,400 scans of 320×320, 0.3–0.6 s of decoding where a
    normal file takes 0.5 ms; the default 512 KiB, ~6,900 of them, are past the loader's cap."""
    image = np.full((size, size), 255, np.uint8)
    image[size // 3 : 2 * size // 3, size // 2 - 10 : size // 2 + 10] = 0
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90, progressive=True)
    data = buffer.getvalue()
    last_scan = data[data.rindex(b"\xff\xda") : -2]  # the last scan's header and data, before the end marker
    return data[:-2] + last_scan * ((total - len(data)) // len(last_scan)) + b"\xff\xd9"


def jpeg_progressive_claiming(width: int, height: int) -> bytes:
    """A small progressive JPEG whose frame header claims width × height (the decoder would buffer the
    coefficients of all of them: ~290 MB for 144 MP of grey)."""
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 200).save(buffer, "JPEG", progressive=True)
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc2")  # SOF2: marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_text_chunks(total: int = 256 * 1024) -> bytes:
    """A blank 100 × 100 PNG whose header holds compressed text chunks up to `total` bytes, each inflating to
    1 MB: Pillow inflates them (up to its 64-MB cap, then refuses) before it knows the size."""
    buffer = io.BytesIO()
    Image.new("L", (100, 100), 255).save(buffer, "PNG")
    data = buffer.getvalue()
    text = _png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"a" * (1 << 20), 9))
    return data[:33] + text * ((total - len(data)) // len(text)) + data[33:]  # after the signature and IHDR


def jpeg_many_markers(total: int = 256 * 1024) -> bytes:
    """A blank 100 × 100 JPEG whose header holds empty APP1 segments up to `total` bytes: Pillow parses
    them one by one, in Python, before it reaches the frame."""
    buffer = io.BytesIO()
    Image.new("L", (100, 100), 255).save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:2] + b"\xff\xe1\x00\x02" * (total // 4) + data[2:]


def gzip_stream(header: bytes, filler: bytes, total: int) -> bytes:
    """gzip of `header` followed by `filler` repeated up to `total` bytes, compressed as it is made."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    parts = [compressor.compress(header)]
    block = filler * max(1, (1 << 20) // len(filler))
    written = 0
    while written < total:
        chunk = block[: total - written]
        parts.append(compressor.compress(chunk))
        written += len(chunk)
    parts.append(compressor.flush())
    return b"".join(parts)


def idx_header(code: int, *dims: int) -> bytes:
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_gzip_bomb(gib: float = 1.0) -> bytes:
    """An IDX .gz of ~1 MB per GiB that unpacks to `gib` GiB of valid (blank) 28×28 images."""
    count = int(gib * (1 << 30)) // 784
    return gzip_stream(idx_header(0x08, count, 28, 28), bytes(784), count * 784)


def csv_gz_rows(rows: int = 684_000) -> bytes:
    """A Kaggle test.csv.gz of `rows` valid all-blank rows: ~1.9 MB for 684,000 rows (1 GB unpacked)."""
    row = (",".join(["0"] * 784) + "\n").encode()
    return gzip_stream((PIXEL_HEADER + "\n").encode(), row, rows * len(row))


def csv_wide_header(columns: int = 200_000) -> bytes:
    return (",".join(f"pixel{i}" for i in range(columns)) + "\n" + ",".join(["0"] * columns) + "\n").encode()


def idx_many_dims(ndim: int = 255) -> bytes:
    return idx_header(0x08, *([1] * ndim)) + b"\0"


def idx_lying_header() -> bytes:
    """A plain IDX claiming 4 × 2^32 × 28 × 28 images in 24 bytes."""
    return idx_header(0x08, 0xFFFFFFFF, 4, 28, 28) + bytes(4)


def keras_config_bomb(mib: int = 100) -> bytes:
    """A .keras archive of ~100 KB whose config.json inflates to `mib` MiB (loading it cost ~2× that)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", '{"padding": "' + " " * (mib << 20) + '"}')
    return buffer.getvalue()


def good_idx(images: np.ndarray) -> bytes:
    return gzip.compress(idx_header(0x08, *images.shape) + images.astype(np.uint8).tobytes())


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path
