"""IDX reading and writing: round trips, every malformed-file case, and the standard-file checksums."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from digitrec.data.idx import STANDARD_FILES, read_idx, write_idx
from digitrec.errors import DataError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_header(code: int, *dims: int) -> bytes:
    return struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def read_error(path) -> str:
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    return message


# --- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_uint8_images_and_labels_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    write_idx(tmp_path / f"images{suffix}", images)
    write_idx(tmp_path / f"labels{suffix}", labels)

    got_images = read_idx(tmp_path / f"images{suffix}")
    got_labels = read_idx(tmp_path / f"labels{suffix}")
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (5,)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"images{suffix}", f"labels{suffix}"]  # no leftovers


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_idx_dtypes_round_trip(tmp_path, dtype):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    array = np.array([[info.min, -1, 0], [1, 7, info.max]], dtype=dtype)
    write_idx(tmp_path / "a.idx.gz", array)
    got = read_idx(tmp_path / "a.idx.gz")
    assert got.dtype == np.dtype(dtype)  # native byte order, whatever the file's big-endian layout
    np.testing.assert_array_equal(got, array)


def test_file_is_big_endian_with_the_documented_magic(tmp_path):
    write_idx(tmp_path / "a.idx", np.array([1, 258], dtype=np.int16))
    assert (tmp_path / "a.idx").read_bytes() == idx_header(0x0B, 2) + b"\x00\x01\x01\x02"


def test_gzip_is_detected_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    assert (tmp_path / "labels.gz").read_bytes()[:2] == b"\x1f\x8b"
    (tmp_path / "labels.gz").rename(tmp_path / "labels.idx")
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.idx"), labels)


def test_unsupported_dtype_is_refused_without_writing(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.int64))
    assert list(tmp_path.iterdir()) == []


# --- malformed files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "magic",
    [b"\x00\x01\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"\x1f\x00\x08\x01", b"PK\x03\x04"],
    ids=["nonzero-prefix", "unknown-type", "zero-dims", "junk", "zip"],
)
def test_bad_magic_number(tmp_path, magic):
    path = tmp_path / "bad.idx"
    path.write_bytes(magic + struct.pack(">I", 3) + b"\x01\x02\x03")
    message = read_error(path)
    assert "magic" in message and magic.hex() in message


def test_file_shorter_than_a_magic_number(tmp_path):
    path = tmp_path / "tiny.idx"
    path.write_bytes(b"\x00\x00")
    assert "too short" in read_error(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(idx_header(0x08, 2, 28, 28)[:10])  # magic + one and a half of three dimensions
    assert "truncated IDX header" in read_error(path)


@pytest.mark.parametrize("delta", [-1, +1, -784], ids=["one-byte-short", "one-byte-long", "one-image-short"])
def test_payload_size_must_match_header(tmp_path, delta):
    path = tmp_path / "images.idx"
    path.write_bytes(idx_header(0x08, 2, 28, 28) + bytes(2 * 28 * 28 + delta))
    message = read_error(path)
    assert f"2×28×28 items ({16 + 2 * 28 * 28} bytes)" in message
    assert f"has {16 + 2 * 28 * 28 + delta} bytes" in message


def test_payload_size_accounts_for_item_size(tmp_path):
    path = tmp_path / "floats.idx.gz"
    # 3 float32 need 12 bytes; 3 bytes would satisfy a uint8 reading of the same dims.
    path.write_bytes(gzip.compress(idx_header(0x0D, 3) + b"\x00\x00\x00"))
    assert "3 items (20 bytes)" in read_error(path)  # 8-byte header + 3 × 4


def test_header_whose_size_overflows_64_bits(tmp_path):
    path = tmp_path / "huge.idx"
    path.write_bytes(idx_header(0x08, 65536, 65536, 65536, 65536))  # 2**64 items: 0 in int64 arithmetic
    assert "but the file has 20 bytes" in read_error(path)


def _invalid_block_type(blob: bytes) -> bytes:
    damaged = bytearray(blob)
    damaged[10] |= 0b110  # first deflate block header: BTYPE = 11, reserved
    return bytes(damaged)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b[:-4] + b"\xff\xff\xff\xff",
        _invalid_block_type,
        lambda b: b[:2] + b"\x00" * 30,
    ],
    ids=["truncated", "wrong-length-trailer", "invalid-deflate-block", "garbage-after-magic"],
)
def test_corrupt_gzip(tmp_path, damage):
    blob = gzip.compress(idx_header(0x08, 3, 28, 28) + np.arange(3 * 784, dtype=np.uint8).tobytes())
    path = tmp_path / "images.idx.gz"
    path.write_bytes(damage(blob))
    assert "corrupt gzip" in read_error(path)


@pytest.mark.parametrize("name", ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"])
def test_standard_name_with_other_bytes_fails_checksum(tmp_path, name):
    path = tmp_path / name
    write_idx(path, np.zeros(10, dtype=np.uint8))  # a valid IDX file, but not the published one
    message = read_error(path)
    assert "checksum mismatch" in message and name in message
    assert read_idx(tmp_path.joinpath(name).rename(tmp_path / "my-labels.idx")).shape == (10,)


def test_missing_file(tmp_path):
    assert "no such file" in read_error(tmp_path / "absent.idx")


def test_directory_instead_of_file(tmp_path):
    assert "is a directory" in read_error(tmp_path)


# --- the real MNIST files -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, counts", [("train", TRAIN_COUNTS), ("t10k", TEST_COUNTS)], ids=["train", "test"])
def test_real_mnist_files(shared_data, prefix, counts):
    images = read_idx(shared_data / "mnist" / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(shared_data / "mnist" / f"{prefix}-labels-idx1-ubyte.gz")
    assert images.shape == (sum(counts), 28, 28) and images.dtype == np.uint8
    assert labels.shape == (sum(counts),) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == counts
    assert images.max() == 255 and images.min() == 0


@pytest.mark.parametrize("stem", ["t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_real_file_decompressed_under_standard_name_passes_checksum(shared_data, tmp_path, stem):
    compressed = shared_data / "mnist" / f"{stem}.gz"
    raw = tmp_path / stem
    raw.write_bytes(gzip.decompress(compressed.read_bytes()))
    assert raw.stat().st_size == STANDARD_FILES[stem]["raw"][0]
    np.testing.assert_array_equal(read_idx(raw), read_idx(compressed))


def test_real_file_with_one_changed_label_fails_checksum(shared_data, tmp_path):
    payload = bytearray(gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    payload[8] = (payload[8] + 1) % 10  # still a well-formed IDX label file
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(bytes(payload))
    assert "checksum mismatch" in read_error(path)
