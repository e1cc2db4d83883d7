"""Digits as users make them, in the spirit of MNIST-C: a 28×28 MNIST digit rendered as an image file at
4× its size (dark ink on light paper) with one corruption at a severity of 1 (mild), 2 (middle) or 3
(strong). The result is the encoded bytes of a PNG or JPEG, so that a benchmark scores exactly the path
`digitrec predict` takes (bytes → `imaging` → model).

numpy, scipy and Pillow only. Used by `benchmarks/robustness.py` and the tests; not by training.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

SCALE = 4  # rendered at 112 × 112: a digit photographed or scanned at a modest resolution
SIDE = 28 * SCALE
PAPER, INK = 0.92, 0.08  # grey levels of paper and ink (0 black, 1 white)

Corruption = Callable[[np.ndarray, int, np.random.Generator], bytes]


def ink_image(digit: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """An MNIST digit (uint8, ink bright) as ink strength 0–1 at `scale`× its size, smooth like a pen."""
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, np.float32) / 255.0, 0.0, 1.0)


def encode(grey: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    """Grey levels 0–1 → image file bytes."""
    image = Image.fromarray(np.round(np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8), "L")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def on_paper(ink: np.ndarray, paper: float = PAPER, ink_level: float = INK) -> np.ndarray:
    return paper * (1.0 - ink) + ink_level * ink


def _affine(ink: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×2 linear map about the image centre (output → input coordinates)."""
    centre = (np.array(ink.shape) - 1) / 2.0
    return ndimage.affine_transform(ink, matrix, offset=centre - matrix @ centre, order=1, mode="constant")


def clean(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    return encode(on_paper(ink_image(digit)))


def lowres(digit: np.ndarray, severity: int, rng: np.random.Generator, side: int | None = None) -> bytes:
    """Scanned or photographed from afar: the digit at 16, 12 or 10 pixels (or `side`), scaled back up."""
    side = side or {1: 16, 2: 12, 3: 10}[severity]
    small = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.Resampling.BOX)
    back = np.asarray(small.resize((SIDE, SIDE), Image.Resampling.BILINEAR), np.float32) / 255.0
    return encode(on_paper(back))


def blur(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Out of focus: Gaussian blur of 0.7, 1.1 or 1.5 MNIST pixels."""
    sigma = {1: 0.7, 2: 1.1, 3: 1.5}[severity] * SCALE
    return encode(on_paper(ndimage.gaussian_filter(ink_image(digit), sigma)))


def thick(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A marker: strokes widened by 1.5, 2.5 or 3.5 MNIST pixels."""
    size = {1: 7, 2: 11, 3: 15}[severity]  # 112-px footprint: widths + (size - 1) / 4 MNIST px
    return encode(on_paper(ndimage.grey_dilation(ink_image(digit), size=(size, size))))


def thin(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A fine pen: strokes narrowed by 0.5, 1 or 1.25 MNIST pixels (MNIST's median stroke is 1.85)."""
    size = {1: 3, 2: 5, 3: 6}[severity]
    return encode(on_paper(ndimage.grey_erosion(ink_image(digit), size=(size, size))))


def rotate(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Written askew: 15°, 25° or 35°, either way."""
    angle = np.deg2rad({1: 15, 2: 25, 3: 35}[severity] * rng.choice([-1, 1]))
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return encode(on_paper(_affine(_padded(ink_image(digit)), matrix)))


def shear(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Slanted handwriting: a horizontal shear of 0.2, 0.35 or 0.5, either way."""
    amount = {1: 0.2, 2: 0.35, 3: 0.5}[severity] * rng.choice([-1, 1])
    return encode(on_paper(_affine(_padded(ink_image(digit)), np.array([[1.0, 0.0], [amount, 1.0]]))))


def _padded(ink: np.ndarray) -> np.ndarray:
    return np.pad(ink, SIDE // 4)


def scale(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Small in the frame: the digit a third, a fifth or an eighth of a 480-px picture's height."""
    fraction = {1: 3, 2: 5, 3: 8}[severity]
    size = 480 // fraction
    ink = (
        np.asarray(
            Image.fromarray(np.asarray(digit, np.uint8)).resize((size, size), Image.Resampling.BICUBIC), np.float32
        )
        / 255.0
    )
    return encode(on_paper(_place(np.clip(ink, 0, 1), (480, 480), rng)))


def offcentre(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Near an edge of a wider picture: 1.5, 2 or 3 times the digit's size, digit in a corner."""
    factor = {1: 1.5, 2: 2.0, 3: 3.0}[severity]
    ink = ink_image(digit)
    canvas = np.zeros((int(SIDE * factor), int(SIDE * factor * 1.3)), np.float32)
    top = rng.choice([0, canvas.shape[0] - SIDE])
    left = rng.choice([0, canvas.shape[1] - SIDE])
    canvas[top : top + SIDE, left : left + SIDE] = ink
    return encode(on_paper(canvas))


def _place(ink: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    canvas = np.zeros(shape, np.float32)
    top = rng.integers(0, shape[0] - ink.shape[0] + 1)
    left = rng.integers(0, shape[1] - ink.shape[1] + 1)
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


def elastic(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A shaky hand: Simard's elastic distortion, α 20, 34 or 48 (σ 4) in MNIST pixels."""
    alpha = {1: 20.0, 2: 34.0, 3: 48.0}[severity]
    ink = _padded(ink_image(digit))
    coarse = (ink.shape[0] // SCALE, ink.shape[1] // SCALE)  # the field is drawn at MNIST's scale, as Simard's
    dy, dx = (
        ndimage.zoom(ndimage.gaussian_filter(rng.uniform(-1, 1, coarse), 4.0) * alpha, SCALE, order=1) * SCALE
        for _ in range(2)
    )
    rows, cols = np.indices(ink.shape)
    return encode(on_paper(ndimage.map_coordinates(ink, [rows + dy, cols + dx], order=1, mode="constant")))


def noise(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A noisy sensor: Gaussian noise of σ 0.08, 0.16 or 0.24 (of the full grey range)."""
    grey = on_paper(ink_image(digit))
    return encode(grey + rng.normal(0, {1: 0.08, 2: 0.16, 3: 0.24}[severity], grey.shape))


def jpeg(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Heavy JPEG compression: quality 30, 15 or 7."""
    return encode(on_paper(ink_image(digit)), "JPEG", quality={1: 30, 2: 15, 3: 7}[severity])


def contrast(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A faint pencil: ink only 0.45, 0.3 or 0.18 darker than the paper."""
    return encode(on_paper(ink_image(digit), ink_level=PAPER - {1: 0.45, 2: 0.3, 3: 0.18}[severity]))


def inverted(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """Chalk on a board: light ink on a dark ground of grey 0.05, 0.2 or 0.35."""
    ground = {1: 0.05, 2: 0.2, 3: 0.35}[severity]
    return encode(on_paper(ink_image(digit), paper=ground, ink_level=0.95))


def photo(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A phone photo of paper: light falling off across the page, sensor noise, a little blur, JPEG."""
    gradient, sigma = {1: (0.2, 0.02), 2: (0.4, 0.04), 3: (0.55, 0.06)}[severity]
    ink = _place(ink_image(digit), (SIDE + 60, SIDE + 90), rng)
    rows, cols = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    light = 1.0 - gradient * (rows / ink.shape[0] + cols / ink.shape[1]) / 2
    grey = ndimage.gaussian_filter(on_paper(ink) * light, 1.0) + rng.normal(0, sigma, ink.shape)
    return encode(grey, "JPEG", quality=80)


def scan(digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """A cheap scan: skewed by 2–6°, thresholded to black and white at half the resolution, dust specks."""
    angle, dust = {1: (2, 0.0005), 2: (4, 0.0015), 3: (6, 0.003)}[severity]
    theta = np.deg2rad(angle * rng.choice([-1, 1]))
    matrix = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    ink = _affine(_padded(ink_image(digit)), matrix)[::2, ::2] > 0.45
    specks = rng.random(ink.shape) < dust
    return encode(on_paper((ink | specks).astype(np.float32)), "PNG")


CORRUPTIONS: dict[str, Corruption] = {
    "lowres": lowres,
    "blur": blur,
    "thick": thick,
    "thin": thin,
    "rotate": rotate,
    "shear": shear,
    "scale": scale,
    "offcentre": offcentre,
    "elastic": elastic,
    "noise": noise,
    "jpeg": jpeg,
    "contrast": contrast,
    "inverted": inverted,
    "photo": photo,
    "scan": scan,
}
SEVERITIES = (1, 2, 3)


def render(name: str, digit: np.ndarray, severity: int, rng: np.random.Generator) -> bytes:
    """`digit` (uint8 28×28, MNIST format) with corruption `name` at `severity`, as image file bytes."""
    if name == "clean":
        return clean(digit, severity, rng)
    return CORRUPTIONS[name](digit, severity, rng)
