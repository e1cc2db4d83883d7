"""Untrusted image bytes → a small decoded image, with the size checked before any pixel is decoded and
shrunk as early as the format allows (JPEG decodes at 1/2–1/8 scale; others are reduced right after
decoding), so memory follows the useful resolution, not what a file claims.

Then grey levels 0 (black) – 1 (white), transparency composited away.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import os
import warnings
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from digitrec.errors import DataError, first_line
from digitrec.fileio import read_capped
from digitrec.imaging.containers import check_container, exif_turn
from digitrec.runtime.quiet import stderr_captured

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
MAX_FILE_BYTES = 50 * 1024 * 1024  # an image file larger than this is refused unread
MAX_PIXELS = 40_000_000  # decoded pixels (after JPEG's reduced-scale decoding); larger images are refused
# A JPEG is decoded at a reduced scale (down to 1/8 per side), so it may claim more: up to just under
# Pillow's own refusal threshold (2 × Image.MAX_IMAGE_PIXELS), its warning below that being moot here.
MAX_JPEG_PIXELS = 150_000_000
# A progressive JPEG keeps every DCT coefficient of the full-size image while it decodes (2 bytes each, per
# colour component), whatever scale it is decoded at, and goes over them once per scan: it gets no allowance
# above MAX_PIXELS, and scans × pixels are capped. A photo has ~10 scans; 400 M scan-pixels (~0.8 s of
# decoding, measured: 6 scans of 144 MP took 1.7 s and 280 MB) passes a 36-MP one with a thumbnail's scans.
MAX_SCAN_PIXELS = 400_000_000
# What `declared_pixels` reads: the header of a PNG, or of a JPEG without a large EXIF block, fits. Reading
# more would cost more than it saves: before it knows the size, Pillow parses a JPEG's markers one by one
# in Python and inflates a PNG's compressed text chunks (up to 64 MB of them). 256 KiB of tiny markers
# took ~0.1 s, of text chunks ~0.5 s (measured); 4 KiB of them ~10 ms at most.
HEADER_BYTES = 4 * 1024
MAX_ASPECT = 50  # one digit, or a number of a few dozen digits, is never more elongated than this
MIN_SIDE = 4
KEEP_SIDE = 512  # decoded images are reduced to about this on their longest side (twice the working size)
MULTI_KEEP_PIXELS = 4_000_000  # a number (`multi`) is reduced to about this many pixels...
MULTI_MIN_SIDE = 256  # ...unless its height would fall under this (the working size, `ink.WORK_SIDE`)
_TRIM_PIXELS = 4_000_000  # after decoding more than this, give the freed memory back to the system


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim: freed heap pages stay resident otherwise, so a server that once decoded a
    40-MP upload would keep hundreds of MB for nothing."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_trim()


def load_image(
    source: str | os.PathLike | bytes | bytearray | BinaryIO, name: str | None = None, multi: bool = False
) -> Image.Image:
    """Open and decode an image file, path or bytes, reduced to about `KEEP_SIDE` pixels on its longest
    side (`multi`, a number written in a row: its shortest) and turned upright by its EXIF orientation; any
    failure is a `DataError` naming the source.
    A JPEG in colour (YCbCr, as nearly all are) comes back grey, mode "L": its luma as decoded, which is
    all the preprocessing uses; a CMYK JPEG stays CMYK."""
    if isinstance(source, (str, os.PathLike)):
        name = name or str(source)
        data = read_capped(source, MAX_FILE_BYTES, "image file")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        name, data = name or "<image bytes>", bytes(source)
    else:
        name = name or str(getattr(source, "name", "<image stream>"))
        if isinstance(source, io.TextIOBase):
            raise DataError(f"{name}: a file object must be opened in binary mode ('rb')")
        try:
            data = source.read(MAX_FILE_BYTES + 1)
        except Exception as exc:  # noqa: BLE001 (closed, unreadable, or the caller's own object failing)
            raise DataError(f"{name}: cannot read ({type(exc).__name__}: {first_line(exc)})") from None
        if not isinstance(data, bytes):
            raise DataError(f"{name}: a file object must be opened in binary mode ('rb')")
    if not data:
        raise DataError(f"{name}: file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise DataError(f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    scans = check_container(data, name, MAX_PIXELS)  # what Pillow would read unbounded, refused unread
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd metadata and truncated reads (it raises for what matters), and about
            # large images (our own caps are the stricter): nothing a user of the CLI should see.
            warnings.simplefilter("ignore")
            image: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
            jpeg = isinstance(image, JpegImageFile)  # MPO (a camera's JPEG + previews) too
            # libjpeg keeps every coefficient at full size for a file of several scans, progressive or
            # sequential (one scan per colour component, say), whatever scale it decodes at.
            buffered = jpeg and (bool(image.info.get("progressive")) or scans > 1)
            _check_size(image.size, name, jpeg=jpeg and not buffered)
            if buffered:
                _check_scans(scans, image.size, name, bool(image.info.get("progressive")))
            if jpeg:
                # Decode at the smallest scale ≥ KEEP_SIDE, and a colour JPEG straight to its luma (what
                # the preprocessing uses): no colour conversion, 45 µs less for a 150-px photo.
                image.draft("L", (KEEP_SIDE, KEEP_SIDE))
            _check_size(image.size, name, jpeg=False)
            _decode(image, name)  # now, so that truncated data fails here and not later
            turn = exif_turn(image)
            pixels = image.size[0] * image.size[1]
            image = _reduce(image, multi)  # the last reference to the original: it is freed here
            _give_back_memory(pixels)
            return image if turn is None else image.transpose(turn)
    except DataError:
        raise
    except Image.UnidentifiedImageError:
        raise DataError(f"{name}: not an image file (or not one of {', '.join(FORMATS)})") from None
    except Image.DecompressionBombError:
        raise DataError(f"{name}: image too large (possible decompression bomb)") from None
    except Exception as exc:  # noqa: BLE001 (Pillow's decoders raise many types for corrupt data)
        raise DataError(f"{name}: corrupt or truncated image ({type(exc).__name__}: {exc})") from None


def _decode(image: Image.Image, name: str) -> None:
    """`image.load()`; libtiff's own diagnostics, which it prints to fd 2 beside Python's error, become
    part of the one line instead."""
    if image.format != "TIFF":
        image.load()
        return
    with stderr_captured() as printed:
        try:
            image.load()
        except Exception as exc:  # noqa: BLE001 (Pillow's decoders raise many types for corrupt data)
            error = exc
        else:
            return
    said = f"; libtiff: {printed[0][:200]}" if printed else ""
    raise DataError(f"{name}: corrupt or truncated image ({type(error).__name__}: {error}{said})")


def declared_pixels(data: bytes) -> int | None:
    """Width × height as an image's header declares them, read without decoding a pixel (~20–200 µs) from
    the first `HEADER_BYTES`; None when Pillow cannot tell from those (not an image, a corrupt header, a
    header longer than that, a size past its own bomb limit) or when the pixels do not bound the decoding
    work (a JPEG of several scans: a 320×320 one of 256 KiB can hold ~3,900 of them, ~0.6 s of decoding)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data[:HEADER_BYTES]), formats=FORMATS)
    except Exception:  # noqa: BLE001 (load_image names the problem; here it only means "unknown")
        return None
    if image.info.get("progressive"):
        return None
    # A sequential JPEG's scans are decoded one after the other too. Counted here in one C pass instead of
    # `check_jpeg`'s walk (which is Python, per marker): an EXIF thumbnail's scan counts too, so such a file
    # merely loses the shortcut.
    if isinstance(image, JpegImageFile) and data.count(b"\xff\xda") > 1:
        return None
    return image.size[0] * image.size[1]


# Modes that `grey_levels` reads directly or Pillow converts to grey or RGBA correctly.
_BYTE_MODES = frozenset({"1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LA", "PA", "RGBX", "RGBa"})
_GREYABLE_MODES = _BYTE_MODES | {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


def check_image(image: Image.Image | np.ndarray, name: str, multi: bool = False) -> Image.Image:
    """An in-memory image (PIL, or a numpy array: grey (H, W), or (H, W, 1|3|4) channels; integers 0–255 or
    0–65535, floats 0–1, or bool) checked like a file's and reduced like one."""
    if isinstance(image, np.ndarray):
        image = _from_array(image, name)
    if not isinstance(image, Image.Image):
        raise DataError(f"{name}: not an image ({type(image).__name__})")
    _check_size(image.size, name, jpeg=False)
    try:
        image.load()  # a lazily opened file decodes here: truncated data, a closed image fail now
        if image.mode not in _GREYABLE_MODES:
            image = image.convert("RGB")  # LAB, HSV: to colours first, as Pillow cannot take them to grey
        return _reduce(image, multi)
    except Exception as exc:  # noqa: BLE001 (a PIL image in a mode Pillow cannot reduce or convert)
        raise DataError(f"{name}: unusable image ({type(exc).__name__}: {exc})") from None


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise DataError(f"{name}: expected an image array (H, W) or (H, W, 1|3|4), got shape {array.shape}")
    _check_size((array.shape[1], array.shape[0]), name, jpeg=False)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not (np.isfinite(array.min()) and np.isfinite(array.max())) or array.min() < 0 or array.max() > 1:
            raise DataError(f"{name}: float image values must be in [0, 1]")  # NaN spreads to min and max
        array = _scaled_to_bytes(array, 255.0, np.float64)
    elif np.issubdtype(array.dtype, np.integer):
        top = 255 if array.max(initial=0) <= 255 else 65535
        if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
            raise DataError(f"{name}: integer image values must be in 0–255 or 0–65535")
        array = _scaled_to_bytes(array, 255 / top, np.float32)
    else:
        raise DataError(f"{name}: unsupported image dtype {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array))


def _scaled_to_bytes(array: np.ndarray, scale: float, dtype: type, rows: int = 256) -> np.ndarray:
    """round(array × scale) as uint8, a block of rows at a time: the float temporaries stay a block's size
    (a 6000×6600 float64 array peaked at 3× its own size when scaled whole)."""
    out = np.empty(array.shape, np.uint8)
    for start in range(0, array.shape[0], rows):
        block = array[start : start + rows].astype(dtype) * dtype(scale)
        out[start : start + rows] = np.round(block, out=block)
    return out


def _check_size(size: tuple[int, int], name: str, jpeg: bool) -> None:
    width, height = size
    if width * height == 0:
        raise DataError(f"{name}: image has zero size ({width}×{height})")
    limit = MAX_JPEG_PIXELS if jpeg else MAX_PIXELS
    if width * height > limit:
        raise DataError(f"{name}: image too large ({width}×{height} pixels, at most {limit // 1_000_000} MP)")
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise DataError(
            f"{name}: {width}×{height} pixels cannot hold a digit (each side at least {MIN_SIDE} "
            f"pixels, at most {MAX_ASPECT}:1)"
        )


def _check_scans(scans: int, size: tuple[int, int], name: str, progressive: bool) -> None:
    """A JPEG of several scans: scans × pixels within `MAX_SCAN_PIXELS` (`check_jpeg` counts them)."""
    width, height = size
    if scans * width * height > MAX_SCAN_PIXELS:
        kind = "progressive JPEG" if progressive else "JPEG"
        raise DataError(
            f"{name}: {kind} of {scans} scans over {width}×{height} pixels, too costly to decode "
            f"(scans × pixels at most {MAX_SCAN_PIXELS // 1_000_000} million; a photo has about 10 scans)"
        )


def _reduce(image: Image.Image, multi: bool = False) -> Image.Image:
    """Shrink by a whole factor (box average) to about `KEEP_SIDE` on the longest side, keeping the mode;
    `multi`: on the shortest side, the height of a row of digits, which the digits' size follows."""
    factor = (min(image.size) if multi else max(image.size)) // KEEP_SIDE
    if multi:
        # A long row is kept by its height: 44700×894 would stay whole (40 MP, 16 bytes a pixel once grey
        # levels are worked out in float32). Cap the area too, short of a row under the working height.
        area = image.size[0] * image.size[1] / MULTI_KEEP_PIXELS
        factor = max(factor, min(math.ceil(math.sqrt(area)), min(image.size) // MULTI_MIN_SIDE))
    if factor < 2:
        return image
    if image.mode in ("P", "1", "CMYK", "I;16", "I;16B", "I;16L", "I;16N"):
        image = image.convert("RGBA" if _has_alpha(image) else ("I" if image.mode.startswith("I;16") else "RGB"))
    return image.reduce(factor)


def _give_back_memory(pixels: int) -> None:
    """After a large original is gone, return its freed pages to the system."""
    if pixels > _TRIM_PIXELS and _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def grey_levels(image: Image.Image) -> np.ndarray:
    """float32 grey levels 0 (black) – 1 (white); transparency composited onto a contrasting backdrop."""
    if _has_alpha(image):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        rgba /= 255.0  # in place: the same values as a new array, without a second 16 bytes per pixel
        luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = rgba[..., 3]
        # Composite onto a backdrop that contrasts with what is drawn: white under dark strokes, black under
        # light ones (a canvas drawing in white on a transparent background must not vanish).
        visible = alpha > 0.5
        backdrop = 0.0 if visible.any() and float(np.mean(luma[visible])) > 0.5 else 1.0
        return luma * alpha + backdrop * (1.0 - alpha)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) if values.size else 1.0
        if not (np.isfinite(top) and np.isfinite(values.min())):  # NaN spreads to the maximum, ±inf shows
            raise DataError("image has pixel values that are not numbers (NaN or infinity)")
        # 16-bit images use 0–65535; float images usually 0–1; anything else by its own maximum.
        full = 65535.0 if 255 < top <= 65535 else (255.0 if 1 < top <= 255 else max(top, 1.0))
        return np.clip(values / full, 0.0, 1.0)
    grey = np.asarray(image if image.mode == "L" else image.convert("L"))
    return np.divide(grey, 255, dtype=np.float32)  # one pass: converted and scaled
