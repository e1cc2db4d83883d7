"""Hostile image containers refused before Pillow reads them (TIFF and EXIF tag bombs, huge TIFF tiles, GIF
block spam, multi-scan JPEGs), the EXIF orientation read without Pillow's EXIF parser (garbage EXIF: no
turn, in every format), numbers kept small with `multi`, and non-finite pixels refused. Each hostile file
is built here, small."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from digitrec import imaging
from digitrec.errors import DataError
from digitrec.imaging import containers, loading


def seven() -> Image.Image:
    """An asymmetric shape (a 7), so that every turn and flip gives different pixels."""
    pixels = np.full((64, 48), 255, np.uint8)
    pixels[8:14, 8:40] = 0
    for row in range(14, 56):
        column = 40 - (row - 14) * 28 // 42
        pixels[row, max(column - 3, 0) : column + 3] = 0
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def tiff_structure(entries: list[tuple[int, int, int, int]], tail: bytes, big_endian: bool = False) -> bytes:
    """A classic TIFF header and one directory of (tag, type, count, value-or-offset), then `tail`."""
    e = ">" if big_endian else "<"
    out = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8) + struct.pack(e + "H", len(entries))
    for tag, typ, count, value in sorted(entries):
        field = struct.pack(e + "HH", value, 0) if typ == 3 and count == 1 else struct.pack(e + "I", value)
        out += struct.pack(e + "HHI", tag, typ, count) + field
    return out + struct.pack(e + "I", 0) + tail


def tag_bomb(tags: int = 300, blob: int = 64 * 1024, orientation: int = 1) -> bytes:
    """EXIF whose `tags` private tags all point at the same `blob` bytes (Pillow reads each one's copy)."""
    start = 8 + 2 + 12 * (tags + 1) + 4
    entries = [(0x0112, 3, 1, orientation)] + [(60000 + i, 7, blob, start) for i in range(tags)]
    return tiff_structure(entries, bytes(blob))


def grey_tiff(extra: list[tuple[int, int, int, int]], tail: bytes = b"") -> bytes:
    """A 64×64 uncompressed grey TIFF (one strip) with `extra` tags, their data in `tail` after the pixels."""
    pixels = np.asarray(seven().resize((64, 64))).tobytes()
    count = 9 + len(extra)
    data = 8 + 2 + 12 * count + 4
    base = [(256, 4, 1, 64), (257, 4, 1, 64), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
    base += [(273, 4, 1, data), (277, 3, 1, 1), (278, 4, 1, 64), (279, 4, 1, len(pixels))]
    return tiff_structure(
        base + [(t, ty, c, data + len(pixels) if v == -1 else v) for t, ty, c, v in extra], pixels + tail
    )


# ---------------------------------------------------------------------------------------------- TIFF


def test_a_tiff_whose_tags_declare_more_than_the_file_is_refused_unread(monkeypatch):
    # 300 tags × 64 KiB in a 64-KiB file: Pillow would read 19 MB (the reviewer's 1000 × 1 MB: 2.1 GB).
    hostile = grey_tiff([(60000 + i, 7, 65536, -1) for i in range(300)], bytes(65536))
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("Pillow opened a hostile file"))
    with pytest.raises(DataError, match=r"digit.tif: TIFF tags declare 19 MB of data in 0\.1 MB"):
        imaging.load_image(hostile, name="digit.tif")


def test_the_tag_data_of_a_tiffs_exif_directory_counts_too():
    exif_ifd = tiff_structure([(60000 + i, 7, 65536, 0) for i in range(300)], b"")[8:]  # a bare directory
    hostile = grey_tiff([(34665, 4, 1, -1)], exif_ifd)
    with pytest.raises(DataError, match="TIFF tags declare 19 MB"):
        imaging.load_image(hostile)


def test_a_tiff_of_too_many_tags_or_huge_tiles_is_refused():
    with pytest.raises(DataError, match=r"TIFF directory of 1109 tags \(at most 1024"):
        imaging.load_image(grey_tiff([(60000 + i, 3, 1, 0) for i in range(1100)]))
    with pytest.raises(DataError, match=r"TIFF tiles of 8192×8192 pixels, too large to decode \(at most 40 MP\)"):
        imaging.load_image(grey_tiff([(322, 4, 1, 8192), (323, 3, 1, 8192)]))


def tiny_tiles_tiff(side: int = 256) -> bytes:
    """side×side pixels cut into 1×1 tiles whose offsets are SHORTs, all pointing at one byte: the checks
    of tag data pass (the arrays are in the file), and Pillow would loop over side² tiles in Python."""
    count = side * side
    entries = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
    entries += [(277, 3, 1, 1), (322, 3, 1, 1), (323, 3, 1, 1)]
    pixel = 8 + 2 + 12 * 10 + 4
    entries += [(324, 3, count, pixel + 1), (325, 3, count, pixel + 1 + 2 * count)]
    return tiff_structure(entries, b"\x80" + struct.pack(f"<{count}H", *[pixel] * count) + b"\x01\x00" * count)


def test_a_tiff_cut_into_tiny_tiles_is_refused_before_pillow_loops_over_them():
    with pytest.raises(DataError, match="a TIFF cut into 65,536 pieces for 65,536 pixels"):
        imaging.load_image(tiny_tiles_tiff(256))
    strips = grey_tiff([])  # one strip of 64 rows; and one strip per row (64 pieces) is fine too
    assert imaging.load_image(strips).size == (64, 64)


def rle8_bmp(width: int, height: int) -> bytes:
    """A BMP, RLE8: every row one pixel, then end-of-line; Pillow pads each row to `width` in Python."""
    rows = b"\x01\x80\x00\x00" * height + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    offset = 14 + 40 + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + palette + rows


def test_a_run_length_coded_bmp_of_many_pixels_is_refused_unread():
    with pytest.raises(DataError, match=r"a run-length-coded BMP of 40000×1000 pixels, too slow to decode"):
        imaging.load_image(rle8_bmp(40_000, 1000))  # 5 KB: 12 s of Python before the check
    with pytest.raises(DataError, match="run-length-coded BMP of 4000×1001"):
        imaging.load_image(rle8_bmp(4000, -1001))  # top-down rows count the same
    assert imaging.load_image(rle8_bmp(300, 200)).size == (300, 200)  # a small one is decoded


def test_a_plain_tiff_with_a_few_tags_passes():
    image = imaging.load_image(grey_tiff([(305, 2, 12, -1)], b"digitrec v1\x00"))
    assert image.size == (64, 64)


# ---------------------------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_the_image_as_pillow_does(fmt, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(seven(), fmt, exif=exif.tobytes(), **options)
    with Image.open(io.BytesIO(data)) as opened:
        expected = ImageOps.exif_transpose(opened).convert("L")
    assert np.array_equal(np.asarray(imaging.load_image(data).convert("L")), np.asarray(expected))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_garbage_exif_means_no_turn_in_every_format(fmt):
    options = {"lossless": True} if fmt == "WEBP" else {}
    plain = imaging.load_image(encode(seven(), fmt, **options))
    garbage = imaging.load_image(encode(seven(), fmt, exif=b"garbage-garbage-garbage", **options))
    assert np.array_equal(np.asarray(garbage), np.asarray(plain))


def test_an_exif_tag_bomb_in_a_png_or_webp_is_never_parsed(monkeypatch):
    # eXIf of 300 tags × 64 KiB: ImageOps.exif_transpose read them all (the reviewer's 1 MB: 4.2 GB).
    monkeypatch.setattr(Image.Exif, "load", lambda *a: pytest.fail("Pillow parsed the EXIF"))
    upright = imaging.load_image(encode(seven(), "PNG"))
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        data = encode(seven().rotate(90, expand=True), fmt, exif=tag_bomb(orientation=6), **options)
        assert np.array_equal(np.asarray(imaging.load_image(data).convert("L")), np.asarray(upright))


def test_a_jpeg_exif_tag_bomb_is_refused_before_pillow_parses_it():
    # Pillow reads a JPEG's EXIF while it opens the file (for its resolution), its APP1 blocks joined.
    bomb = b"Exif\x00\x00" + tag_bomb(tags=300, blob=60_000)
    data = encode(seven(), "JPEG")
    hostile = data[:2] + b"\xff\xe1" + struct.pack(">H", len(bomb) + 2) + bomb + data[2:]
    with pytest.raises(DataError, match="EXIF tags declare 17 MB of data"):
        imaging.load_image(hostile)


def test_orientation_of_raw_exif_bytes():
    assert containers.exif_orientation(b"Exif\x00\x00" + tiff_structure([(0x0112, 3, 1, 6)], b"")) == 6
    assert containers.exif_orientation(tiff_structure([(0x0112, 3, 1, 8)], b"", big_endian=True)) == 8
    assert containers.exif_orientation(tiff_structure([(0x0112, 3, 2, 8)], b"")) == 8  # the first of two
    assert containers.exif_orientation(tiff_structure([(0x0112, 3, 0, 8)], b"")) == 0  # no value at all
    assert containers.exif_orientation(tiff_structure([(0x0100, 3, 1, 8)], b"")) is None
    assert containers.exif_orientation(b"II*\x00\xff\xff\xff\xff") is None  # directory past the end
    assert containers.exif_orientation(b"garbage") is None


# ---------------------------------------------------------------------------------------------- GIF


def with_gif_extensions(blocks: bytes) -> bytes:
    data = encode(seven(), "GIF")
    flags = data[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[:start] + blocks + data[start:]


def test_gif_comment_spam_is_refused_before_pillow_joins_it():
    # Pillow joins comment blocks in quadratic time: 2 MB of them took 5 s, 4 MB over 58 s.
    with pytest.raises(DataError, match="GIF of more than 256 blocks before its image"):
        imaging.load_image(with_gif_extensions(b"\x21\xfe\x01x\x00" * 300))
    with pytest.raises(DataError, match="GIF of too many extension data blocks"):
        imaging.load_image(with_gif_extensions(b"\x21\xfe" + b"\x01x" * 3000 + b"\x00"))
    with pytest.raises(DataError, match="GIF of more than 256 blocks"):
        imaging.load_image(with_gif_extensions(b"\x07" * 300))  # stray bytes, stepped over one by one


def png_chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("filler", [b"\xff", b"\xff\xd0", b"\xff\x00", b"\xff\x01"])
def test_jpeg_fill_bytes_and_lone_markers_count_too(filler):
    """16 MB of fill bytes after the start took Pillow 7 s (48 MB: 35 s) and slipped past the marker cap."""
    jpeg = encode(seven(), "JPEG")
    with pytest.raises(DataError, match="JPEG of more than 65536 markers"):
        imaging.load_image(jpeg[:2] + filler * (containers.MAX_JPEG_MARKERS + 1) + jpeg[2:])


def test_an_orientation_of_several_values_is_its_first_as_pillow_reads_it():
    exif = b"Exif\x00\x00" + tiff_structure([(0x0112, 3, 2, 6)], b"")  # SHORT × 2: 6, then 0
    data = encode(seven(), "JPEG", exif=exif)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow: "tag 274 had too many entries"
        assert Image.open(io.BytesIO(data)).getexif()[0x0112] == 6
    assert imaging.load_image(data).size == (64, 48)  # turned, as ImageOps.exif_transpose does


def test_png_and_jpeg_chunk_spam_is_refused_before_pillow_reads_each_in_python():
    """Pillow walks chunks and markers in Python: 3.9 million empty PNG chunks took it 11 s and 600 MB,
    11 million empty JPEG comments 9 s and 970 MB (16 s with an uncounted walk in front)."""
    png = encode(seven(), "PNG")
    with pytest.raises(DataError, match="PNG of too many chunks"):
        imaging.load_image(png[:33] + png_chunk(b"zzZz") * (containers.MAX_PNG_CHUNKS_BEFORE_IMAGE + 1) + png[33:])
    assert imaging.load_image(png[:33] + png_chunk(b"zzZz") * 100 + png[33:]).size == (48, 64)
    jpeg = encode(seven(), "JPEG")
    with pytest.raises(DataError, match="JPEG of more than 65536 markers"):
        imaging.load_image(jpeg[:2] + b"\xff\xfe\x00\x02" * containers.MAX_JPEG_MARKERS + jpeg[2:])


def test_a_png_of_many_small_image_data_chunks_passes():
    """Encoders split the image data: a chunk after the first is still the image, not spam."""
    big = seven().resize((256, 300))  # ~77,000 one-byte chunks: more than may come before the image data
    png = encode(big, "PNG", compress_level=0)
    start = png.index(b"IDAT") - 4
    length = int.from_bytes(png[start : start + 4], "big")
    data = png[start + 8 : start + 8 + length]
    split = b"".join(png_chunk(b"IDAT", data[i : i + 1]) for i in range(len(data)))  # every byte its own chunk
    image = imaging.load_image(png[:start] + split + png[start + 12 + length :])
    assert np.array_equal(np.asarray(image), np.asarray(big))


def test_a_gif_with_a_few_comments_passes():
    image = imaging.load_image(with_gif_extensions(b"\x21\xfe\x05hello\x00" * 3))
    assert image.size == (48, 64)


# ---------------------------------------------------------------------------------------------- JPEG


def sequential_jpeg(size: int, scans: int, components: int = 3) -> bytes:
    """A blank baseline JPEG with one scan per component (non-interleaved), the scans repeated: libjpeg
    buffers every coefficient of such a file at full size, whatever scale it decodes at."""

    def segment(marker: bytes, payload: bytes) -> bytes:
        return marker + struct.pack(">H", len(payload) + 2) + payload

    frame = struct.pack(">BHHB", 8, size, size, components)
    frame += b"".join(bytes([i + 1, 0x11, 0]) for i in range(components))
    counts = bytes([1] + [0] * 15)
    data = b"\xff\xd8" + segment(b"\xff\xdb", b"\x00" + bytes([1] * 64)) + segment(b"\xff\xc0", frame)
    data += segment(b"\xff\xc4", b"\x00" + counts + b"\x00" + b"\x10" + counts + b"\x00")
    bits = 2 * ((size + 7) // 8) ** 2
    entropy = bytes(bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")
    for scan in range(scans):
        data += segment(b"\xff\xda", bytes([1, scan % components + 1, 0x00, 0, 63, 0])) + entropy
    return data + b"\xff\xd9"


def test_a_multi_scan_sequential_jpeg_gets_no_reduced_scale_allowance():
    # 6000×6000 (36 MP) is within the 150-MP allowance of a one-scan JPEG, read at 1/8 scale; with three
    # scans libjpeg would buffer 36 M coefficients per component (the reviewer's 144 MP: 1.23 GB).
    with pytest.raises(DataError, match=r"image too large \(7000×7000 pixels, at most 40 MP\)"):
        imaging.load_image(sequential_jpeg(7000, 3))
    with pytest.raises(DataError, match=r"JPEG of 4000 scans over 320×320 pixels, too costly"):
        imaging.load_image(sequential_jpeg(320, 4000))
    assert imaging.load_image(sequential_jpeg(320, 3)).size == (320, 320)
    assert imaging.declared_pixels(sequential_jpeg(320, 3)) is None  # its scans, not pixels, tell its cost


def test_only_the_main_images_scans_count():
    # An EXIF thumbnail's scan and a camera's appended preview are not the main image's scans.
    thumbnail = encode(Image.new("L", (16, 16), 128), "JPEG")
    exif = b"Exif\x00\x00" + tiff_structure([(0x0201, 4, 1, 26), (0x0202, 4, 1, len(thumbnail))], thumbnail)
    data = encode(seven(), "JPEG")
    with_thumbnail = data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:]
    assert with_thumbnail.count(b"\xff\xda") == 2
    assert containers.check_jpeg(with_thumbnail + data, "x") == 1
    assert containers.check_jpeg(encode(seven(), "JPEG", progressive=True), "x") > 1


# ---------------------------------------------------------------------------------------------- memory, values


def test_a_long_number_is_kept_small_with_multi():
    # 30000×600 RGBA: kept whole by its height before (18 MP, 16 bytes a pixel once in float32; the
    # reviewer's 44700×894: 1.5 GB), now reduced by 2 to 15000×300 (still above the working height).
    image = imaging.check_image(Image.new("RGBA", (30000, 600), (255, 255, 255, 255)), "number", multi=True)
    assert image.size == (15000, 300)
    assert loading._reduce(Image.new("L", (6000, 400)), multi=True).size == (6000, 400)  # 256 px rows stay


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused_in_one_line(bad):
    pixels = np.where(np.asarray(seven()) > 0, 1.0, 0.0).astype(np.float32)
    pixels[0, 0] = bad
    data = encode(Image.fromarray(pixels, "F"), "TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" would be one
        with pytest.raises(DataError, match=r"^image has pixel values that are not numbers \(NaN or infinity\)$"):
            imaging.to_mnist(imaging.load_image(data))


@pytest.mark.parametrize("compression", ["tiff_adobe_deflate", "tiff_lzw", "packbits"])
def test_libtiffs_own_lines_become_part_of_the_one_line(compression, capfd):
    """libtiff prints its diagnostics to fd 2 ("ZIPDecode: Decoding error at scanline 117") beside
    Python's error; they are captured into the DataError, and nothing else is printed."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200), np.uint8))
    data = bytearray(encode(image, "TIFF", compression=compression))
    middle = len(data) // 2
    data[middle : middle + 400] = bytes(range(256)) + bytes(144)  # garbage inside the compressed strips
    try:
        imaging.load_image(bytes(data), name="bad.tiff")
    except DataError as exc:
        message = str(exc)
        assert message.startswith("bad.tiff: ") and "\n" not in message
    assert capfd.readouterr().err == ""
