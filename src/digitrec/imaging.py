"""User images → MNIST format: uint8 28×28, white ink on black, the digit fitted into 20×20 and centred by
its centre of mass, as the MNIST digits were made.

Any image Pillow reads (PNG, JPEG, BMP, GIF, WebP, TIFF), any size and mode, dark ink on light paper or light
ink on dark: photos of paper with uneven lighting, scans, canvas drawings with a transparent background.

The pipeline, on a copy scaled to a fixed working size so that every pixel constant below means the same:
grey levels → polarity (ink made bright) → background flattened (subtracting a local estimate of the paper)
→ ink found (Otsu threshold, checked against the noise level; specks dropped) → cropped, thin strokes
thickened, scaled to 20 px on the longest side, pasted into 28×28 at MNIST's centre of mass.

Pillow, numpy and scipy.ndimage (filters, connected components) only: no TensorFlow, so it stays light
in the server and on the ONNX path.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from scipy import ndimage
from PIL import Image, ImageOps

from digitrec.errors import DataError

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
MNIST_SIZE = 28
MNIST_BOX = 20  # MNIST digits were scaled so their longest side is 20 px
MNIST_CENTRE = 14.0  # mean centre of mass (row and column) of the MNIST t10k digits, measured
WORK_SIDE = 256  # the longest side of the working copy
# MNIST's stroke widths in output pixels (twice the area over the outline), measured on t10k: 5th
# percentile, median, 95th percentile. Strokes outside the range are brought to the median.
MNIST_STROKES = (1.15, 1.85, 3.2)

# Ink detection, in working pixels or in grey levels 0–1.
_BACKGROUND_GRID = 32  # the coarse grid on which the background is estimated...
_BACKGROUND_WINDOW = 15  # ...with a window of this many grid cells: about half the image, wider than bold strokes
_MIN_CONTRAST = 0.08  # ink must differ from the paper by at least this much...
_MIN_SNR = 5.0  # ...and by this many times the background noise
_SPECK_FRACTION = 0.04  # components smaller than this share of the largest one are specks
_PIECE_HEIGHT = 0.6  # segmenting: components shorter than this share of the tallest are pieces of a digit...
_PIECE_GAP = 0.25  # ...joining the nearest digit within this share of the tallest height
_MIN_DIGIT_EXTENT = 0.06  # the largest component must span this share of the working image


# ---------------------------------------------------------------------------------------------- loading


def load_image(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None) -> Image.Image:
    """Open and fully decode an image file, path or bytes; any failure is a `DataError` naming the source.

    The image is refused before decoding if it has more than `MAX_PIXELS` pixels, and turned upright
    according to its EXIF orientation (phone photos).
    """
    if isinstance(source, (str, os.PathLike)):
        name = name or str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise DataError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise DataError(f"{name}: is a directory, not an image file") from None
        except OSError as exc:
            raise DataError(f"{name}: cannot read ({exc.strerror or exc})") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        name, data = name or "<image bytes>", bytes(source)
    else:
        name, data = name or getattr(source, "name", "<image stream>"), source.read()
    if not data:
        raise DataError(f"{name}: file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height == 0:
                raise DataError(f"{name}: image has zero size ({width}×{height})")
            if width * height > MAX_PIXELS:
                raise DataError(f"{name}: image too large ({width}×{height} pixels, at most "
                                f"{MAX_PIXELS // 1_000_000} MP)")
            image.load()  # decode now, so that truncated data fails here and not later
            return ImageOps.exif_transpose(image)
    except DataError:
        raise
    except Image.UnidentifiedImageError:
        raise DataError(f"{name}: not an image file (or not one of {', '.join(FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name}: image too large (possible decompression bomb)") from None
    except Exception as exc:  # noqa: BLE001 (Pillow's decoders raise many types for corrupt data)
        raise DataError(f"{name}: corrupt or truncated image ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------- public


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """One digit in an image → uint8 (28, 28) like MNIST; `DataError("no ink found")` if there is none."""
    ink = _find_ink(_working_grey(image))
    return _fit_mnist(ink.values, ink.mask)


def segment_digits(image: Image.Image | np.ndarray) -> list[np.ndarray]:
    """Several digits written side by side → one uint8 (28, 28) array per digit, left to right.

    Digits are the connected ink components, with components that overlap strongly in x merged (the parts
    of a broken 5, a 7's crossbar). Touching digits are not separated: they come out as one.
    """
    ink = _find_ink(_working_grey(image))
    digits = []
    for group in _group_by_column(ink.kept):
        mask = np.isin(ink.labels, group)
        digits.append(_fit_mnist(ink.values, mask, exclude=ink.mask & ~mask))
    return digits


# ---------------------------------------------------------------------------------------------- grey levels


def _working_grey(image: Image.Image | np.ndarray) -> np.ndarray:
    """float32 grey levels 0 (black) – 1 (white) at the working size; transparency composited away."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    grey = _grey_levels(image)
    h, w = grey.shape
    scale = WORK_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return _resize(grey, size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)


def _grey_levels(image: Image.Image) -> np.ndarray:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
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
        # 16-bit images use 0–65535; float images usually 0–1; anything else by its own maximum.
        full = 65535.0 if 255 < top <= 65535 else (255.0 if 1 < top <= 255 else max(top, 1.0))
        return np.clip(values / full, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------- ink


@dataclass
class _Ink:
    values: np.ndarray  # float32 ink strength 0–1 (0 = paper), zero outside kept components' halo
    mask: np.ndarray  # bool: pixels of the kept components
    labels: np.ndarray  # int32 component labels of the thresholded ink (0 = none)
    kept: dict[int, tuple]  # labels that are not specks → (top, left, bottom, right, area); ends exclusive


def _find_ink(grey: np.ndarray) -> _Ink:
    smooth = _mean3x3(grey)  # tames sensor noise and JPEG speckle, keeps thin strokes
    bright = 1.0 - smooth if _ink_is_dark(smooth) else smooth
    residual = bright - _background(bright)

    sample = residual[::2, ::2]  # statistics of many pixels need not see all of them
    split = max(_otsu(sample), _MIN_CONTRAST / 2)
    paper = sample[sample <= split]
    paper_level = float(np.median(paper)) if paper.size else 0.0
    noise = max(1.4826 * float(np.median(np.abs(paper - paper_level))) if paper.size else 0.0, 1e-3)
    mask = residual > max(split, paper_level + 3.0 * noise)
    contrast = float(np.median(residual[mask])) - paper_level if mask.any() else 0.0
    if contrast < max(_MIN_CONTRAST, _MIN_SNR * noise):
        raise DataError("no ink found (blank, uniform or noise-only image)")

    labels, areas, boxes = _label(mask)
    largest = int(np.argmax(areas))
    top, left, bottom, right = boxes[largest]
    if max(bottom - top, right - left) < _MIN_DIGIT_EXTENT * max(grey.shape):
        raise DataError("no ink found (only specks)")
    kept = {i + 1: (*boxes[i], areas[i]) for i in np.flatnonzero(areas >= _SPECK_FRACTION * areas[largest])}
    kept_mask = np.isin(labels, list(kept))

    # Grey levels as in MNIST: stroke cores saturate, edges keep their anti-aliasing; nothing outside a
    # one-pixel halo around the kept strokes survives (no background texture, no specks).
    core = float(np.percentile(residual[kept_mask], 75))
    floor = paper_level + 2.0 * noise
    values = np.clip((residual - floor) / max(core - floor, 1e-3), 0.0, 1.0)
    values *= _dilate(kept_mask, 1)
    return _Ink(values.astype(np.float32), kept_mask, labels, kept)


def _ink_is_dark(grey: np.ndarray) -> bool:
    """Dark ink on light paper? The ink is the far tail of the grey levels on one side of the paper's level,
    taken as the median of the image's outer ring: mostly paper even when bold strokes fill the middle, or
    touch the edge of a tight crop."""
    h, w = grey.shape
    ring = max(1, min(h, w) // 20)
    border = np.concatenate([grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()])
    paper = float(np.median(border))
    low, high = np.percentile(grey[::2, ::2], [0.5, 99.5])
    return paper - low >= high - paper


def _background(bright: np.ndarray) -> np.ndarray:
    """The paper under bright ink: a low percentile over a coarse window, refined by the local mean of the
    pixels that are not ink (exact on smooth gradients, unlike the percentile alone)."""
    h, w = bright.shape
    small = _resize(bright, _coarse_size(bright.shape))
    # Mirrored, not replicated: a stroke touching the edge of a tight crop must not fill the edge windows.
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(small, _BACKGROUND_WINDOW // 2, mode="symmetric"),
                                                       (_BACKGROUND_WINDOW, _BACKGROUND_WINDOW))
    rough = np.percentile(windows.reshape(*small.shape, -1), 10, axis=-1).astype(np.float32)

    rough_full = _resize(rough, (w, h), Image.Resampling.BILINEAR)
    residual = bright - rough_full
    paper = ~_dilate(residual > max(_otsu(residual[::2, ::2]), _MIN_CONTRAST / 2), 2)
    paper_share = _resize(paper.astype(np.float32), small.shape[::-1])
    paper_sum = _resize(np.where(paper, bright, 0.0).astype(np.float32), small.shape[::-1])
    radius = _BACKGROUND_WINDOW // 4
    support = _box_blur(paper_share, radius)
    mean = np.where(support > 0.1, _box_blur(paper_sum, radius) / np.maximum(support, 1e-6), rough)
    return _resize(mean.astype(np.float32), (w, h), Image.Resampling.BILINEAR)


def _coarse_size(shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    scale = _BACKGROUND_GRID / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _resize(image: np.ndarray, size: tuple[int, int], method=Image.Resampling.BOX) -> np.ndarray:
    """Resize a float32 array to (width, height)."""
    return np.array(Image.fromarray(image, "F").resize(size, method), dtype=np.float32)


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best splits `values` into two classes (Otsu's between-class variance)."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-6:
        return hi
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    sum0 = np.cumsum(hist * centres)
    mean0 = sum0 / np.maximum(weight0, 1)
    mean1 = (sum0[-1] - sum0) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


def _mean3x3(image: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter(image.astype(np.float32), size=3, mode="nearest")


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window, edges mirrored."""
    return ndimage.uniform_filter(image.astype(np.float32), size=2 * radius + 1, mode="reflect")


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return _max_filter(mask, radius)


def _max_filter(image: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over a (2r+1)² square, outside the image counting as 0."""
    return ndimage.maximum_filter(image, size=2 * radius + 1, mode="constant", cval=0)


def _label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of `mask`: labels (0 = background, 1..n), area per component and bounding box
    (top, left, bottom, right; exclusive ends) per component."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = np.array([(rows.start, cols.start, rows.stop, cols.stop) for rows, cols in ndimage.find_objects(labels)],
                     dtype=np.int64).reshape(-1, 4)
    return labels.astype(np.int32), areas, boxes


def _group_by_column(components: dict[int, tuple]) -> list[list[int]]:
    """Component labels grouped into digits, left to right.

    Components of at least `_PIECE_HEIGHT` of the tallest one's height are digits, merged when their column
    ranges overlap by half of the narrower one (the parts of an open 4). Shorter ones are pieces (the flag of
    a 5, a 7's crossbar) and join the nearest digit within `_PIECE_GAP` heights; further away, they are
    stray marks and left out.
    """
    tallest = max(bottom - top for top, _, bottom, _, _ in components.values())
    by_left = sorted(components.items(), key=lambda item: item[1][1])
    groups: list[list] = []  # [labels, left, right]
    pieces = []
    for label, (top, left, bottom, right, _) in by_left:
        if bottom - top < _PIECE_HEIGHT * tallest:
            pieces.append((label, left, right))
        elif groups and min(right, groups[-1][2]) - left >= 0.5 * min(right - left, groups[-1][2] - groups[-1][1]):
            groups[-1][0].append(label)
            groups[-1][2] = max(right, groups[-1][2])
        else:
            groups.append([[label], left, right])
    for label, left, right in pieces:
        gaps = [max(0, left - group_right, group_left - right) for _, group_left, group_right in groups]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= _PIECE_GAP * tallest:
            groups[nearest][0].append(label)
    return [labels for labels, _, _ in groups]


# ---------------------------------------------------------------------------------------------- fitting


def _fit_mnist(values: np.ndarray, mask: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Crop the ink of `mask` (plus its anti-aliased halo), thicken thin strokes, scale the longest side to
    20 px and paste into 28×28 so that the centre of mass lands where MNIST's does."""
    region = _dilate(mask, 1)
    if exclude is not None:
        region &= ~exclude
    ink = np.where(region, values, 0.0).astype(np.float32)
    ink = _normalise_strokes(_crop(ink))
    scale = MNIST_BOX / max(ink.shape)
    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = _resize(ink, size)  # area averaging: the anti-aliased grey edges MNIST has
    small /= max(float(small.max()), 1e-6)

    rows, cols = np.indices(small.shape)
    total = float(small.sum())
    centre_row, centre_col = (rows * small).sum() / total, (cols * small).sum() / total
    top = int(np.clip(round(MNIST_CENTRE - centre_row), 0, MNIST_SIZE - small.shape[0]))
    left = int(np.clip(round(MNIST_CENTRE - centre_col), 0, MNIST_SIZE - small.shape[1]))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return np.round(out * 255).astype(np.uint8)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink > 0)
    if rows.size == 0:
        raise DataError("no ink found")
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _normalise_strokes(ink: np.ndarray) -> np.ndarray:
    """Thicken a fine pen's strokes, thin a marker's, to MNIST's median width once scaled to 20 px."""
    scale = MNIST_BOX / max(ink.shape)
    stroke = _stroke_width(ink > 0.5) * scale
    low, target, high = MNIST_STROKES
    radius = round(abs(target - stroke) / scale / 2)  # a max/min filter of radius r changes widths by 2r
    if low <= stroke <= high or radius == 0:
        return ink
    if stroke < low:
        return _crop(_max_filter(np.pad(ink, radius), radius))
    thinned = -_max_filter(-ink, radius)
    return _crop(thinned) if thinned.max() > 0.5 else ink


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a shape: twice its area over its outline length."""
    padded = np.pad(mask, 1)
    outline = np.count_nonzero(padded[1:] != padded[:-1]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    return 2.0 * np.count_nonzero(mask) / max(outline, 1)

