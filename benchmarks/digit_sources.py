"""Digits not written by MNIST's writers, and things that are not digits, all available offline:

- UCI optical digits (scikit-learn's `load_digits`): 1,797 digits by 43 other people, NIST forms scanned
  to 32×32 bitmaps and reduced to 8×8 counts (0–16): other hands at a very low resolution.
- Typeset digits: 0–9 in the 14 text fonts that matplotlib ships (DejaVu Sans/Serif/Mono and their bold
  and oblique cuts, STIX, Computer Modern), each at 3 sizes and 3 small rotations, dark on light.
- Non-digits: capital letters that do not resemble digits, in the same fonts, and random pen scribbles.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmmi10.ttf",
)
LETTERS = "ACEFHKMNPRTUVWXY"  # none of them easily read as a digit


def uci_digits() -> tuple[list[np.ndarray], np.ndarray]:
    """The 8×8 UCI digits as uint8 arrays (light ink on black, as the counts are), and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return [np.round(image / 16 * 255).astype(np.uint8) for image in digits.images], digits.target.astype(np.int64)


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _glyph(text: str, font_name: str, size: int, angle: float) -> bytes:
    image = Image.new("L", (size * 3, size * 3), 235)
    ImageDraw.Draw(image).text((size * 1.5, size * 1.5), text, fill=25, font=_font(font_name, size), anchor="mm")
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=235)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def font_digits() -> tuple[list[bytes], np.ndarray]:
    """Typeset digits as PNG bytes: 14 fonts × 3 sizes × 3 rotations × 10 digits = 1,260 images."""
    images, labels = [], []
    for font_name in FONT_FILES:
        for size in (24, 48, 96):
            for angle in (-8, 0, 8):
                for digit in range(10):
                    images.append(_glyph(str(digit), font_name, size, angle))
                    labels.append(digit)
    return images, np.array(labels)


def non_digits(rng: np.random.Generator, scribbles: int = 300) -> list[bytes]:
    """Letters in every font (14 × 16) and random scribbles: inputs that should get a low confidence."""
    images = [_glyph(letter, font_name, 64, 0) for font_name in FONT_FILES for letter in LETTERS]
    for _ in range(scribbles):
        image = Image.new("L", (160, 160), 235)
        points = [tuple(rng.integers(20, 140, 2).tolist()) for _ in range(rng.integers(4, 12))]
        ImageDraw.Draw(image).line(points, fill=20, width=int(rng.integers(3, 9)), joint="curve")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        images.append(buffer.getvalue())
    return images
