"""A few lines of container parsing that refuse a hostile image file before Pillow touches it, and read
the EXIF orientation without Pillow's EXIF parser.

Why by hand: Pillow reads every TIFF tag's data while it opens a file (the first directory twice, then
again with its EXIF sub-directories when it finishes loading), and a JPEG's EXIF when it has no JFIF
resolution; a 1-MB file whose thousand tags all point at the same 1-MB blob cost 2.1 GB. Its GIF reader
concatenates comment blocks (time quadratic in their number) and steps over junk one byte at a time.
Each check reads only the structure (directories, segment lengths, block sizes), bounded by the file.
"""

from __future__ import annotations

import re
import struct

from PIL import Image

from digitrec.errors import DataError

TAG_SLACK = 64 * 1024  # tag data may exceed the file by this much (shared values) before it is a bomb
MAX_TAGS = 1024  # entries in one TIFF/EXIF directory (a camera's has ~50; Pillow walks them in Python)
MAX_GIF_BLOCKS = 256  # extensions (or stray bytes) before a GIF's first image: a real one has a handful
MAX_GIF_SUBBLOCKS = 65_536  # data sub-blocks of those extensions (a 1-MB ICC profile has ~4,100)...
MAX_GIF_COMMENT_BLOCKS = 2048  # ...of which comment ones, which Pillow joins in quadratic time (~0.05 s)
MAX_JPEG_MARKERS = 65_536  # markers in a JPEG (a progressive photo has a few dozen)
MAX_PNG_CHUNKS_BEFORE_IMAGE = 65_536  # a PNG's chunks before its image data (a photo's: a handful)
MIN_TIFF_PIECES = 4096  # strips or tiles any TIFF may have; beyond it one per MIN_PIECE_PIXELS...
MIN_PIECE_PIXELS = 256  # ...pixels (a 40-MP scan in one-row strips has one per 6,000 pixels)
MAX_PNG_CHUNKS = 131_072  # in all (image data in chunks of 8 KB or more: a 50-MB file has ~6,400)
MAX_RLE_PIXELS = 4_000_000  # a run-length-coded BMP's pixels (Pillow decodes those in Python)

TIFF_PREFIXES = (b"MM\x00\x2a", b"II\x2a\x00", b"MM\x2a\x00", b"II\x00\x2a", b"MM\x00\x2b", b"II\x2b\x00")
_SUB_IFDS = (34665, 34853, 40965)  # Exif, GPS, Interop: the sub-directories Pillow loads with a TIFF
_ORIENTATION = 0x0112
# Bytes per value of each TIFF type Pillow reads (others it skips unread): BYTE ASCII SHORT LONG RATIONAL
# SBYTE UNDEFINED SSHORT SLONG SRATIONAL FLOAT DOUBLE IFD, then BigTIFF's LONG8 SLONG8 IFD8.
_UNIT = dict(
    zip((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18), (1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4, 8, 8, 8))
)
_INTEGER_TYPES = {3: "H", 4: "L", 8: "h", 9: "l"}
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# In entropy-coded JPEG data a 0xFF byte is followed by 0x00 (stuffing) or a restart number: any other
# byte after it is a marker.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class _Tiff:
    """The byte order and offset width of a TIFF structure (a TIFF file, or the EXIF block of another)."""

    def __init__(self, data: bytes):
        self.data = data
        self.endian = "<" if data[:2] == b"II" else ">"
        self.big = data[2] == 43
        self.first = self.read("Q" if self.big else "L", 8 if self.big else 4) or 0

    def read(self, fmt: str, offset: int) -> int | None:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            return None
        return int(struct.unpack_from(self.endian + fmt, self.data, offset)[0])

    def entries(self, offset: int) -> tuple[list[tuple[int, int, int, int]], int]:
        """A directory's entries (tag, type, count, value/offset) as Pillow reads them: as many as declared
        and present; and where the first one starts. (struct, not numpy: a photo's ~10 entries cost ~2 µs.)"""
        head, size = (8, 20) if self.big else (2, 12)
        declared = self.read("Q" if self.big else "H", offset)
        if declared is None:
            return [], 0
        count = max(0, min(declared, (len(self.data) - offset - head) // size))
        start = offset + head
        fmt = self.endian + ("HHQQ" if self.big else "HHLL")
        return list(struct.iter_unpack(fmt, self.data[start : start + count * size])), start

    def inline(self, start: int, index: int, typ: int) -> int | None:
        """The first value of entry `index`, stored in its value field."""
        fmt = _INTEGER_TYPES.get(typ)
        return None if fmt is None else self.read(fmt, start + index * (20 if self.big else 12) + 8 + 4 * self.big)


def check_tiff(data: bytes, name: str, what: str, max_tile_pixels: int | None) -> None:
    """Refuse a TIFF structure whose directories (the first, and the EXIF/GPS/Interop ones below it)
    declare more tag data than the file holds, hold more than `MAX_TAGS` entries, or (a TIFF file) tiles of
    more than `max_tile_pixels`, which the decoder would allocate whole."""
    tiff = _Tiff(data)
    declared, todo, seen = 0, [tiff.first], set[int]()
    while todo and len(seen) < 8:
        offset = todo.pop()
        if offset in seen:
            continue
        seen.add(offset)
        entries, start = tiff.entries(offset)
        if len(entries) > MAX_TAGS:
            raise DataError(f"{name}: {what} directory of {len(entries)} tags (at most {MAX_TAGS}; corrupt or hostile)")
        inline = 8 if tiff.big else 4
        declared += sum(size for _, t, c, _ in entries if (size := c * _UNIT.get(t, 0)) > inline)
        todo += [value for tag, _, _, value in entries if tag in _SUB_IFDS]
        if max_tile_pixels is not None and offset == tiff.first:
            _check_tiles(tiff, entries, start, name, max_tile_pixels)
    if declared > len(data) + TAG_SLACK:
        raise DataError(
            f"{name}: {what} tags declare {declared / 2**20:,.0f} MB of data in {len(data) / 2**20:,.1f} MB "
            "(corrupt or hostile)"
        )


def _check_tiles(tiff: _Tiff, entries: list[tuple[int, int, int, int]], start: int, name: str, limit: int) -> None:
    def first(wanted: int) -> int:
        values = [tiff.inline(start, i, t) for i, (tag, t, _, _) in enumerate(entries) if tag == wanted]
        return max((v for v in values if v is not None), default=0)

    sides = first(322), first(323)  # TileWidth, TileLength
    if sides[0] * sides[1] > limit:
        raise DataError(
            f"{name}: TIFF tiles of {sides[0]}×{sides[1]} pixels, too large to decode (at most {limit // 1_000_000} MP)"
        )
    # Pillow decodes a TIFF piece by piece (strips or tiles), with Python's work and a buffer for each: an
    # image cut into 1×1 tiles cost 2.1 GiB and 36 s for 12.5 MB. A real file's pieces hold rows or tiles
    # of thousands of pixels; more than one piece per MIN_PIECE_PIXELS of the image is refused.
    pieces = max((count for tag, _, count, _ in entries if tag in (273, 324)), default=0)  # Strip/TileOffsets
    pixels = first(256) * first(257)  # ImageWidth × ImageLength
    if pieces > max(MIN_TIFF_PIECES, pixels // MIN_PIECE_PIXELS):
        raise DataError(
            f"{name}: a TIFF cut into {pieces:,} pieces for {pixels:,} pixels, too many to decode (corrupt or hostile)"
        )


def exif_orientation(exif: bytes) -> int | None:
    """The Orientation tag of EXIF bytes (a TIFF structure, after any "Exif\\0\\0" headers): its value, 0
    when it is not an integer, None when absent or when the bytes are no EXIF (garbage means no rotation)."""
    while exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    if not exif.startswith(TIFF_PREFIXES):
        return None
    tiff = _Tiff(exif)
    entries, start = tiff.entries(tiff.first)
    found = [i for i, (tag, t, _, _) in enumerate(entries) if tag == _ORIENTATION and t in _UNIT]
    if not found:
        return None
    last = found[-1]  # Pillow keeps the last of repeated tags
    _, typ, count, offset = entries[last]
    if count < 1:
        return 0
    if count * _UNIT[typ] <= (8 if tiff.big else 4):
        value = tiff.inline(start, last, typ)
    else:  # stored elsewhere; like Pillow, the first of several values is the orientation
        fmt = _INTEGER_TYPES.get(typ)
        value = None if fmt is None else tiff.read(fmt, offset)
    return 0 if value is None else value


def check_gif(data: bytes, name: str) -> None:
    """Walk a GIF's blocks up to its first image descriptor; refuse more than a few hundred of them, or
    more data sub-blocks than any real file has."""
    pos = 13 + ((3 << ((data[10] & 7) + 1)) if len(data) > 10 and data[10] & 0x80 else 0)
    blocks = subblocks = comments = 0
    while pos < len(data) and data[pos] not in b",;":
        blocks += 1
        if blocks > MAX_GIF_BLOCKS:
            raise DataError(f"{name}: GIF of more than {MAX_GIF_BLOCKS} blocks before its image (corrupt or hostile)")
        if data[pos] != 0x21:  # a stray byte, which Pillow steps over one by one
            pos += 1
            continue
        comment = pos + 1 < len(data) and data[pos + 1] == 0xFE
        pos += 2
        while pos < len(data) and data[pos]:
            subblocks += 1
            comments += comment
            if subblocks > MAX_GIF_SUBBLOCKS or comments > MAX_GIF_COMMENT_BLOCKS:
                raise DataError(f"{name}: GIF of too many extension data blocks before its image (corrupt or hostile)")
            pos += data[pos] + 1
        pos += 1


def check_jpeg(data: bytes, name: str) -> int:
    """Check a JPEG's EXIF and MPF blocks (directories Pillow parses while it opens the file) and count the
    scans of its main image: the start-of-scan markers up to its end marker, so that neither an EXIF
    thumbnail's scan nor a camera's appended previews or video count."""
    pos, scans, markers = 2, 0, 0
    exif = b""
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # entropy-coded data: jump to the next marker
            found = _JPEG_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
            continue
        # Every marker counts, fill bytes and lone restarts too: Pillow steps over each in Python (16 MB of
        # fill bytes took 7 s, 48 MB 35 s); 11 million empty comments took it 9 s and 970 MB.
        markers += 1
        if markers > MAX_JPEG_MARKERS:
            raise DataError(f"{name}: JPEG of more than {MAX_JPEG_MARKERS} markers (corrupt or hostile)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker in (0x00, 0x01):
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            exif += segment[6:] if exif else segment
        elif marker == 0xE2 and segment.startswith(b"MPF\x00") and segment[4:8] in TIFF_PREFIXES:
            check_tiff(segment[4:], name, "JPEG MPF", None)
        elif marker == 0xDA:
            scans += 1
        pos += 2 + max(length, 2)
    exif = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    if exif[:4] in TIFF_PREFIXES:
        check_tiff(exif, name, "EXIF", None)
    return scans


def check_png(data: bytes, name: str) -> None:
    """Count a PNG's chunks (Pillow reads each in Python: 3.9 million empty ones took it 11 s and 600 MB):
    at most `MAX_PNG_CHUNKS_BEFORE_IMAGE` before its first image data, `MAX_PNG_CHUNKS` in all (an encoder
    splits the image data into chunks of 8 KB or more: a 50-MB file has a few thousand)."""
    pos, chunks, image = 8, 0, False
    while pos + 8 <= len(data):
        kind = data[pos + 4 : pos + 8]
        if kind == b"IEND":
            return
        image = image or kind == b"IDAT"
        chunks += 1
        if chunks > MAX_PNG_CHUNKS or (not image and chunks > MAX_PNG_CHUNKS_BEFORE_IMAGE):
            raise DataError(f"{name}: PNG of too many chunks (corrupt or hostile)")
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")


def check_bmp(data: bytes, name: str) -> None:
    """A run-length-coded BMP (RLE8/RLE4) is decoded by Pillow in Python, a byte per loop turn, padding
    each row to the image's width: 4.6 KB of one-pixel rows declaring 40 MP cost 12 s of CPU. Such a BMP
    may have at most `MAX_RLE_PIXELS` (~0.5 s); uncompressed ones are decoded in C."""
    if len(data) < 34:
        return
    width, height, _, _, compression = struct.unpack_from("<iiHHI", data, 18)
    if compression in (1, 2) and abs(width) * abs(height) > MAX_RLE_PIXELS:
        raise DataError(
            f"{name}: a run-length-coded BMP of {abs(width)}×{abs(height)} pixels, too slow to decode "
            f"(at most {MAX_RLE_PIXELS // 1_000_000} MP; save it uncompressed or as PNG)"
        )


def check_container(data: bytes, name: str, max_tile_pixels: int) -> int:
    """The checks above that apply to `data`, by its signature; the number of scans of a JPEG, else 0."""
    if data.startswith(b"BM"):
        check_bmp(data, name)
    elif data.startswith(_PNG_SIGNATURE):
        check_png(data, name)
    elif data.startswith(TIFF_PREFIXES):
        check_tiff(data, name, "TIFF", max_tile_pixels)
    elif data.startswith(b"\xff\xd8"):
        return check_jpeg(data, name)
    elif data.startswith(_GIF_SIGNATURES):
        check_gif(data, name)
    return 0


_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_XMP_ORIENTATION = r'tiff:Orientation(="|>)([0-9])'


def exif_turn(image: Image.Image) -> Image.Transpose | None:
    """How to turn a decoded image upright: `ImageOps.exif_transpose`'s reading of the orientation (EXIF,
    ImageMagick's hex "Raw profile type exif", else XMP), without parsing the rest of the EXIF (see the
    module's note) and with garbage EXIF meaning no turn, in every format. None for a TIFF: Pillow turns it
    while loading."""
    if image.format == "TIFF":
        return None
    exif = image.info.get("exif")
    if exif is None and isinstance(raw := image.info.get("Raw profile type exif"), str):
        try:
            exif = bytes.fromhex("".join(raw.split("\n")[3:]))
        except ValueError:
            exif = None
    value = exif_orientation(exif) if isinstance(exif, bytes) else None
    if value is None:
        xmp = image.info.get("XML:com.adobe.xmp") or image.info.get("xmp")
        if isinstance(xmp, bytes):
            xmp = xmp.decode("latin-1")  # the digit and the tag's name are ASCII: any decoding that keeps them
        match = re.search(_XMP_ORIENTATION, xmp) if isinstance(xmp, str) else None
        value = int(match[2]) if match else None
    return _TURNS.get(value or 1)
