"""Things that are not digits, photographed the way digits are: what the not-a-digit check learns to
refuse and is measured on. Never MNIST test digits (its writers are for measuring digits).

Near non-digits look like writing: letters and symbols (typeset in matplotlib's fonts, turned and
sheared), pen scribbles, pieces of a digit and two digits in one image. Far ones do not: noise,
textures, and crops of natural images (the photos scikit-learn and matplotlib ship).

Each kind draws from separate material per split, so that what is measured on `test` was never seen in
`train` or `val`: other fonts, other symbols, other photos (and, for pieces and pairs, the digits the
caller passes: training digits for `train`, held-out ones for `val` and `test`).

    rng = np.random.default_rng(0)
    grey = draw("letters", rng, "train")     # uint8 (H, W): dark marks on light paper, photographed

Numpy, OpenCV, Pillow and the packages' own data files only: the data layer.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitrec.data.lines import photograph
from digitrec.errors import DataError

NEAR = ("letters", "symbols", "scribbles", "pieces", "pairs")
FAR = ("noise", "textures", "natural")
KINDS = NEAR + FAR
SPLITS = ("train", "val", "test")

# Letters that no hand makes into a digit (O, I, l, S, Z, B, G, b, g, q… left out), in both cases.
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
# Symbols split by character: the test split's are never drawn for training or validation.
SYMBOLS = dict.fromkeys(("train", "val"), "+=%#@&*?<>€£¥¶^÷×±√≠πΣΩµ∂∫≤©®¬¿¡«»‰†‡♠♣♦♪⌘")
SYMBOLS["test"] = "≥∆λ→←↑↔Ψ¢⊕∞"
# Fonts split by family: letters in the test split come from faces never drawn for training.
FONTS = {
    "train": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf"),
    "val": ("DejaVuSans-Oblique.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneralBol.ttf"),
    "test": ("cmr10.ttf", "cmss10.ttf", "DejaVuSerif-Italic.ttf", "STIXGeneralItalic.ttf"),
}
SYMBOL_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf")  # the faces that hold every symbol
# Natural images by split: (package, file).
PHOTOS = {
    "train": (("sklearn", "china.jpg"), ("matplotlib", "Minduka_Present_Blue_Pack.png")),
    "val": (("sklearn", "flower.jpg"),),
    "test": (("matplotlib", "grace_hopper.jpg"), ("matplotlib", "s1045.ima.gz")),
}
PIECE_INK = (0.25, 0.6)  # a piece keeps this share of its digit's ink: less is a speck, more is the digit


def draw(kind: str, rng: np.random.Generator, split: str = "train", digits: np.ndarray | None = None) -> np.ndarray:
    """One non-digit of `kind`, photographed: uint8 (H, W) grey levels, dark on light. `digits` (uint8
    (k, 28, 28), MNIST form, never MNIST test) are what `pieces` and `pairs` are cut from."""
    if kind not in KINDS:
        raise DataError(f"unknown kind of non-digit {kind!r}; known: {', '.join(KINDS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if kind in ("pieces", "pairs") and (digits is None or len(digits) < 2):
        raise DataError(f"{kind} are cut from digits: pass at least two")
    if kind == "natural":
        return _natural(rng, split)
    ink = {
        "letters": lambda: _glyph(str(rng.choice(list(LETTERS))), str(rng.choice(FONTS[split])), rng),
        "symbols": lambda: _glyph(str(rng.choice(list(SYMBOLS[split]))), str(rng.choice(SYMBOL_FONTS)), rng),
        "scribbles": lambda: _scribble(rng),
        "pieces": lambda: _piece(digits, rng),  # type: ignore[arg-type]
        "pairs": lambda: _pair(digits, rng),  # type: ignore[arg-type]
        "noise": lambda: _noise(rng),
        "textures": lambda: _texture(rng),
    }[kind]()
    return photograph(np.pad(ink, 8), rng)


def row(rng: np.random.Generator, split: str = "train") -> np.ndarray:
    """Two to eight letters, symbols and scribbles side by side, photographed: a line with no digit in it,
    as `draw`'s images are single non-digits."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    height, pieces = 40, []
    for _ in range(int(rng.integers(2, 9))):
        which = int(rng.integers(3))
        if which == 2:
            ink = _scribble(rng)
        else:
            text = str(rng.choice(list(LETTERS if which == 0 else SYMBOLS[split])))
            ink = _glyph(text, str(rng.choice(FONTS[split] if which == 0 else SYMBOL_FONTS)), rng)
        width = max(1, round(ink.shape[1] * height / max(ink.shape[0], 1)))
        pieces.append(np.asarray(cv2.resize(ink, (min(width, 3 * height), height), interpolation=cv2.INTER_AREA)))
    gaps = rng.integers(3, 15, len(pieces))
    canvas = np.zeros((height, sum(p.shape[1] for p in pieces) + int(gaps.sum())), np.float32)
    x = 0
    for piece, gap in zip(pieces, gaps):
        canvas[:, x : x + piece.shape[1]] = piece
        x += piece.shape[1] + int(gap)
    return photograph(np.pad(canvas, 8), rng)


def typeset(text: str, rng: np.random.Generator, split: str = "train") -> np.ndarray:
    """`text` typeset in one of the split's fonts, turned, sheared and photographed like `draw`'s letters:
    the typeset digits that are real digits beside them."""
    return photograph(np.pad(_glyph(text, str(rng.choice(FONTS[split])), rng), 8), rng)


@functools.cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib  # noqa: PLC0415 (only for the path of its fonts)

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _glyph(text: str, font: str, rng: np.random.Generator) -> np.ndarray:
    """A character as light ink on black, turned and sheared a little, as a hand would slant it."""
    size = int(rng.integers(28, 72))
    image = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(image).text((size, size), text, fill=255, font=_font(font, size), anchor="mm")
    ink: np.ndarray = np.asarray(image, np.float32)
    shear, angle = rng.uniform(-0.3, 0.3), rng.uniform(-15, 15)
    matrix = cv2.getRotationMatrix2D((size, size), angle, 1.0)
    matrix[0, 1] += shear
    ink = np.asarray(cv2.warpAffine(ink, matrix, (size * 2, size * 2), flags=cv2.INTER_LINEAR))
    if rng.random() < 0.5:  # drawn with a round pen along the strokes, as on a canvas or paper
        ink = _penned(ink, int(rng.integers(2, max(3, size // 10))))
    elif rng.random() < 0.5:  # a bolder pen
        ink = np.asarray(cv2.dilate(ink, np.ones((2, 2), np.uint8)))
    return _cropped(ink)


def _penned(ink: np.ndarray, radius: int) -> np.ndarray:
    """The glyph's strokes redrawn with a round pen of `radius`: their middles, thickened evenly."""
    solid = (ink > 128).astype(np.uint8)
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 3)
    # the ridge of the distance to the edge: each stroke's middle line, thin and thick strokes alike
    middle = ((depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8))) & (depth >= 1)).astype(np.uint8)
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return np.asarray(cv2.dilate(middle, pen), np.float32) * 255


def _scribble(rng: np.random.Generator) -> np.ndarray:
    """A pen's random path: a smoothed random walk with turns, never nearly straight (that is a 1)."""
    while True:
        turns = np.cumsum(rng.normal(0, rng.uniform(0.3, 1.2), int(rng.integers(30, 100))))
        steps = np.stack([np.cos(turns), np.sin(turns)], 1) * rng.uniform(2, 5)
        points = np.cumsum(steps, 0)
        if not straight(points):
            break
    points = points - points.min(0) + 6
    canvas = np.zeros((int(points[:, 1].max()) + 8, int(points[:, 0].max()) + 8), np.float32)
    width = int(rng.integers(1, 5))
    cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, 255.0, width, cv2.LINE_AA)
    return canvas


def _piece(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit with a straight cut through it and one side kept: a fragment, not the digit."""
    for _ in range(20):
        digit = digits[rng.integers(len(digits))].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        rows, cols = np.mgrid[:28, :28]
        side = (cols - 13.5) * np.cos(angle) + (rows - 13.5) * np.sin(angle) - rng.uniform(-5, 5)
        kept = digit * (side > 0)
        share = kept.sum() / max(digit.sum(), 1.0)
        if PIECE_INK[0] <= share <= PIECE_INK[1] and not straight(np.argwhere(kept > 128).astype(float)):
            return cv2.resize(_cropped(kept), None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    return _scribble(rng)


def _pair(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digits side by side in one image, apart or touching: a number, not a digit."""
    first, second = (_cropped(digits[i].astype(np.float32)) for i in rng.integers(len(digits), size=2))
    gap = int(rng.integers(-3, 6))
    height = max(first.shape[0], second.shape[0])
    canvas = np.zeros((height, first.shape[1] + second.shape[1] + max(gap, 0) + 1), np.float32)
    canvas[height - first.shape[0] :, : first.shape[1]] = first
    left = max(0, first.shape[1] + gap)
    region = canvas[height - second.shape[0] :, left : left + second.shape[1]]
    np.maximum(region, second[:, : region.shape[1]], out=region)
    return cv2.resize(canvas, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)


def _noise(rng: np.random.Generator) -> np.ndarray:
    """Specks, blotches or grain: marks with no shape."""
    side = int(rng.integers(24, 80))
    field = rng.random((side, side)).astype(np.float32)
    style = rng.integers(3)
    if style == 0:  # specks
        return (field > rng.uniform(0.9, 0.99)).astype(np.float32) * 255
    if style == 1:  # blotches: smoothed noise, thresholded
        smooth = cv2.GaussianBlur(field, (0, 0), rng.uniform(1.5, 5))
        return (smooth > np.quantile(smooth, rng.uniform(0.6, 0.9))).astype(np.float32) * 255
    return field * 255 * rng.uniform(0.3, 1.0)  # grain


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A regular pattern: stripes at an angle, a grid, a checkerboard or dots."""
    side = int(rng.integers(32, 96))
    rows, cols = np.mgrid[:side, :side].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
    along = cols * np.cos(angle) + rows * np.sin(angle)
    across = -cols * np.sin(angle) + rows * np.cos(angle)
    style = rng.integers(4)
    if style == 0:
        pattern = np.sin(2 * np.pi * along / period) > 0.3
    elif style == 1:
        pattern = (np.abs(np.sin(np.pi * along / period)) < 0.2) | (np.abs(np.sin(np.pi * across / period)) < 0.2)
    elif style == 2:
        pattern = (np.floor(along / period) + np.floor(across / period)) % 2 == 0
    else:
        pattern = (np.sin(2 * np.pi * along / period) * np.sin(2 * np.pi * across / period)) > 0.6
    return pattern.astype(np.float32) * 255


@functools.cache
def _photo(package: str, name: str) -> np.ndarray:
    """A natural image shipped by a package, as grey levels."""
    if package == "sklearn":
        from sklearn.datasets import load_sample_image  # noqa: PLC0415

        colour = load_sample_image(name)
    else:
        import matplotlib  # noqa: PLC0415

        path = Path(matplotlib.get_data_path()) / "sample_data" / name
        if name.endswith(".ima.gz"):  # a 256×256 16-bit MRI slice
            raw = np.frombuffer(gzip.decompress(path.read_bytes()), np.uint16).reshape(256, 256).astype(np.float32)
            return np.round(raw / raw.max() * 255).astype(np.uint8)
        colour = np.asarray(Image.open(path).convert("RGB"))
    return np.asarray(Image.fromarray(colour).convert("L"))


def _natural(rng: np.random.Generator, split: str) -> np.ndarray:
    """A crop of a natural photo at a random place and size, as a user might send by mistake."""
    photo = _photo(*PHOTOS[split][int(rng.integers(len(PHOTOS[split])))])
    side = int(rng.integers(24, min(photo.shape) // 2))
    top, left = (int(rng.integers(0, n - side + 1)) for n in photo.shape)
    crop = photo[top : top + side, left : left + side]
    return np.asarray(cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA))


def straight(points: np.ndarray) -> bool:
    """Whether points lie nearly on a line (a stroke like that is a 1, whatever it was cut from)."""
    if len(points) < 3:
        return True
    spread = np.linalg.eigvalsh(np.cov(points.T))
    return bool(spread[0] < 0.06 * spread[1])


def _cropped(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.max(axis=1) > 30), np.flatnonzero(ink.max(axis=0) > 30)
    if len(rows) == 0:
        return ink
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
