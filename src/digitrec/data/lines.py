"""Lines of handwritten digits composed from single digits: the numbers a number reader trains and is
measured on. MNIST *train* digits make training lines; MNIST *test* digits (other writers) only measure.

A line is one row of digits as people write them: spaced apart, tight, touching (neighbours' ink joins),
overlapping, slanted, uneven in size and baseline, on plain, ruled or squared paper or in a form's boxes;
then photographed (paper tone, uneven light, noise, blur). `compose` returns it dark on light, as a
photo's grey levels, with the digits it holds.

    rng = np.random.default_rng(0)
    line = compose(digits, labels, "touching", rng)   # digits: uint8 (k, 28, 28) in MNIST form
    line.image, line.label                            # uint8 (H, W) grey levels, "4071"

Numpy and OpenCV only, no model: the data layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitrec.errors import DataError

# How the digits sit beside each other: the gap between neighbours' ink, in pixels at 28-px digits (a
# negative gap overlaps their boxes; at -2 and below most neighbours' strokes meet).
GAPS = {
    "spaced": (5, 14),
    "tight": (0, 3),
    "touching": (-3, -1),
    "overlapping": (-6, -3),
}
MAX_OVERLAP = 0.4  # of the narrower neighbour's width: beyond it a digit can vanish behind the next
PAPERS = ("plain", "ruled", "squared", "boxed")
KINDS = ("spaced", "tight", "touching", "overlapping", "ruled", "squared", "boxed", "slanted", "long")
MAX_DIGITS = 10_000  # a line longer than this is no number anyone writes
PAD = 10  # blank paper around the digits


@dataclass(frozen=True)
class Style:
    """Everything random about one line, drawn once per line (per-digit jitter is drawn from it)."""

    gap: tuple[int, int] = GAPS["tight"]
    paper: str = "plain"
    slant: float = 0.0  # shear of the whole line: x += slant × (height above the baseline)
    scale_jitter: float = 0.12  # each digit's height × U(1 ± this)
    baseline_jitter: int = 2  # each digit moved up or down by up to this many pixels
    stroke: int = 0  # −1 thinner, 0 as written, +1 bolder (the whole line: one pen)


def style_of(kind: str, rng: np.random.Generator) -> Style:
    """The style of a benchmark kind: spacing kinds on plain paper, paper kinds and slanted lines with a
    random spacing from spaced to touching, `long` as tight lines."""
    if kind not in KINDS:
        raise DataError(f"unknown kind of line {kind!r}; known: {', '.join(KINDS)}")
    stroke = int(rng.choice([-1, 0, 0, 0, 1, 1]))
    if kind in GAPS:
        return Style(gap=GAPS[kind], stroke=stroke)
    spacing = GAPS[str(rng.choice(["spaced", "tight", "touching"]))]
    if kind in ("ruled", "squared", "boxed"):
        return Style(gap=GAPS["spaced"] if kind == "boxed" else spacing, paper=kind, stroke=stroke)
    if kind == "slanted":
        return Style(gap=spacing, slant=float(rng.choice([-1, 1]) * rng.uniform(0.15, 0.4)), stroke=stroke)
    return Style(gap=GAPS["tight"], stroke=stroke)  # long


@dataclass(frozen=True)
class Line:
    image: np.ndarray  # uint8 (H, W): dark ink on light paper
    label: str  # the digits, left to right
    kind: str


def compose(
    digits: np.ndarray, labels: np.ndarray, kind: str | Style, rng: np.random.Generator, photo: bool = True
) -> Line:
    """One line of `digits` (uint8 (k, 28, 28), light ink on black, as MNIST) in the style of `kind` (a name
    from KINDS, or a Style); `photo` adds the paper's tone, light, noise and blur."""
    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.shape[1:] != (28, 28) or digits.dtype != np.uint8 or len(digits) != len(labels):
        raise DataError("compose takes uint8 digits (k, 28, 28) and k labels")
    if not 1 <= len(digits) <= MAX_DIGITS:
        raise DataError(f"a line holds 1 to {MAX_DIGITS} digits, got {len(digits)}")
    style = kind if isinstance(kind, Style) else style_of(kind, rng)
    ink, boxes = _place(digits, style, rng)
    ink = _paper(ink, boxes, style, rng)
    image = photograph(ink, rng) if photo else (255 - ink).astype(np.uint8)
    return Line(image, "".join(str(int(label)) for label in labels), kind if isinstance(kind, str) else "custom")


def _crop(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.max(axis=1) > 30), np.flatnonzero(digit.max(axis=0) > 30)
    if len(rows) == 0:
        return digit[10:18, 10:18]
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _place(digits: np.ndarray, style: Style, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The digits' ink side by side on a black float canvas (0–255), and each digit's column span."""
    height = 20  # MNIST's digits are fitted into 20 px
    pieces: list[np.ndarray] = []
    for digit in digits:
        piece = _crop(digit).astype(np.float32)
        target = max(6, round(height * rng.uniform(1 - style.scale_jitter, 1 + style.scale_jitter)))
        factor = target / piece.shape[0]
        width = max(1, round(piece.shape[1] * factor * rng.uniform(0.9, 1.1)))
        pieces.append(cv2.resize(piece, (width, target), interpolation=cv2.INTER_LINEAR))
    if style.stroke:
        kernel = np.ones((2, 2), np.uint8)
        change = cv2.dilate if style.stroke > 0 else cv2.erode
        pieces = [np.asarray(change(piece, kernel)) if min(piece.shape) > 4 else piece for piece in pieces]
    gaps = rng.integers(style.gap[0], style.gap[1] + 1, len(pieces))
    gaps[0] = 0
    cell = height + 8 if style.paper == "boxed" else 0  # a form's boxes: one digit per box, centred
    lift = height + 2 * PAD + 2 * style.baseline_jitter
    shear = abs(style.slant) * (height * 1.3)
    width = (
        PAD * 2
        + round(shear)
        + (cell * len(pieces) if cell else sum(p.shape[1] for p in pieces) + int(gaps.sum()) - int(gaps.min(initial=0)))
    )
    canvas = np.zeros((lift + 2 * round(height * style.scale_jitter), max(width, 1)), np.float32)
    baseline = canvas.shape[0] - PAD - style.baseline_jitter
    x = PAD + (round(shear) if style.slant < 0 else 0)
    boxes: list[tuple[int, int]] = []
    for index, (piece, drawn) in enumerate(zip(pieces, gaps)):
        # neighbours overlap by at most MAX_OVERLAP of the narrower one: a 1 is never hidden whole
        gap = max(int(drawn), -int(MAX_OVERLAP * min(piece.shape[1], pieces[index - 1].shape[1]))) if index else 0
        x = x + cell if cell and boxes else x + gap
        left = x + (cell - piece.shape[1]) // 2 if cell else x
        left = max(0, left)
        bottom = baseline + int(rng.integers(-style.baseline_jitter, style.baseline_jitter + 1))
        top = max(0, bottom - piece.shape[0])
        region = canvas[top : top + piece.shape[0], left : left + piece.shape[1]]
        np.maximum(region, piece[: region.shape[0], : region.shape[1]], out=region)
        boxes.append((left - (cell - piece.shape[1]) // 2, cell) if cell else (left, piece.shape[1]))
        if not cell:
            x = left + piece.shape[1]
    if style.slant:
        rows = canvas.shape[0]
        matrix = np.array([[1, -style.slant, style.slant * baseline], [0, 1, 0]], np.float32)
        canvas = np.asarray(cv2.warpAffine(canvas, matrix, (canvas.shape[1], rows), flags=cv2.INTER_LINEAR))
    return canvas, boxes


def _paper(ink: np.ndarray, boxes: list[tuple[int, int]], style: Style, rng: np.random.Generator) -> np.ndarray:
    """The paper's printed lines under the ink: fainter and thinner than the pen (as printed rules are)."""
    if style.paper == "plain":
        return ink.clip(0, 255)
    lines = np.zeros_like(ink)
    level = float(rng.uniform(70, 150))
    rows, cols = ink.shape
    bottom = rows - PAD + int(rng.integers(-1, 3))
    if style.paper in ("ruled", "squared"):
        step = int(rng.integers(22, 32))
        for y in range(bottom % step, rows, step):
            lines[y, :] = level
    if style.paper == "squared":
        step = int(rng.integers(14, 24))
        for x in range(int(rng.integers(0, step)), cols, step):
            lines[:, x] = level
    if style.paper == "boxed":
        top = max(0, bottom - 30)
        for left, width in boxes:
            cv2.rectangle(lines, (left, top), (left + width - 1, min(rows - 1, bottom)), level, 1)
    return np.maximum(ink, lines).clip(0, 255)


def photograph(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on paper of some tone, under uneven light, a little blurred and noisy."""
    rows, cols = ink.shape
    paper = rng.uniform(170, 245)
    pen = rng.uniform(10, 90)
    light = (
        1
        + rng.uniform(-0.12, 0.12) * np.linspace(-1, 1, cols)[None, :]
        + rng.uniform(-0.08, 0.08) * np.linspace(-1, 1, rows)[:, None]
    )
    image = (paper - (paper - pen) * ink / 255) * light
    if rng.random() < 0.5:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.0)))
    image = image + rng.normal(0, rng.uniform(1, 6), image.shape)
    return image.clip(0, 255).astype(np.uint8)
