"""Real MNIST digits rendered as users would upload them: photos, scans and drawings in every common format
(`RENDERINGS`), a number written across one image, and image encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def png_bytes(image: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt)
    return buffer.getvalue()


def as_scan(image: np.ndarray) -> Image.Image:
    """An MNIST digit as a user might upload it: dark ink on light paper, enlarged, in colour, JPEG'd."""
    paper = Image.fromarray(255 - image).resize((196, 196), Image.Resampling.BICUBIC)
    return Image.merge("RGB", (paper, paper, paper.point(lambda v: v * 0.9)))


def ink_at(digit: np.ndarray, size: int) -> np.ndarray:
    """An MNIST digit scaled up to size×size as ink strength 0–1 (smooth edges, like a pen)."""
    return (
        np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), np.float32).clip(0, 255) / 255
    )


def on_canvas(ink: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Place `ink` at a random spot of a larger empty canvas (height, width)."""
    canvas = np.zeros(shape, np.float32)
    top = rng.integers(0, shape[0] - ink.shape[0] + 1)
    left = rng.integers(0, shape[1] - ink.shape[1] + 1)
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    if fmt == "PNG":
        options.setdefault("compress_level", 1)  # fast: noisy images compress slowly and to no avail
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def grey_image(levels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(levels, 0, 1) * 255).astype(np.uint8), "L")


def colour_image(ink: np.ndarray, ink_rgb, paper_rgb) -> Image.Image:
    ink = ink[..., None]
    rgb = np.asarray(ink_rgb, np.float32) * ink + np.asarray(paper_rgb, np.float32) * (1 - ink)
    return Image.fromarray(np.round(rgb).clip(0, 255).astype(np.uint8), "RGB")


def black_on_white_png(digit, rng):
    return encode(grey_image(1 - ink_at(digit, 300)), "PNG")


def off_centre_blue_pen_jpeg(digit, rng):
    ink = on_canvas(ink_at(digit, 200), (360, 480), rng)
    return encode(colour_image(ink, (20, 30, 120), (250, 250, 245)), "JPEG", quality=75)


def grey_noisy_uneven_jpeg(digit, rng):
    """A phone photo of paper: lit from one corner (grey 0.45 to 0.9), sensor noise, JPEG."""
    ink = on_canvas(ink_at(digit, 240), (320, 320), rng)
    rows, cols = np.mgrid[0:320, 0:320] / 320
    paper = 0.45 + 0.45 * (rows + cols) / 2
    levels = paper * (1 - ink) + 0.1 * ink + rng.normal(0, 0.04, ink.shape)
    return encode(grey_image(levels), "JPEG", quality=85)


def bold_strokes_png(digit, rng):
    bold = np.asarray(Image.fromarray(digit).filter(ImageFilter.MaxFilter(3)))
    return encode(grey_image(1 - ink_at(bold, 280)), "PNG")


def thin_pen_png(digit, rng):
    """Only the core of the strokes, hard-edged: a fine pen (strokes 1–1.5 px once scaled to 20 px).
    (Thinner cores than this break MNIST's strokes apart: no longer the same digit.)"""
    ink = (ink_at(digit, 400) > 0.75).astype(np.float32)
    return encode(grey_image(1 - ink), "PNG")


def dark_on_transparent_png(digit, rng):
    alpha = np.round(ink_at(digit, 280) * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(alpha, 30)] * 3 + [alpha])
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def white_on_transparent_png(digit, rng):
    """What a canvas drawing app exports: white strokes, transparent background."""
    alpha = np.round(ink_at(digit, 280) * 255).astype(np.uint8)
    rgba = np.dstack([np.full_like(alpha, 255)] * 3 + [alpha])
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def palette_gif(digit, rng):
    image = colour_image(on_canvas(ink_at(digit, 200), (260, 300), rng), (150, 20, 20), (250, 240, 200))
    return encode(image.quantize(colors=16), "GIF")


def chalk_on_board_png(digit, rng):
    """Light ink on a dark, noisy background."""
    ink = on_canvas(ink_at(digit, 220), (300, 300), rng)
    noise = rng.normal(0, 8, (*ink.shape, 1))
    image = np.asarray(colour_image(ink, (235, 235, 225), (30, 70, 40)), np.float32) + noise
    return encode(Image.fromarray(image.clip(0, 255).astype(np.uint8), "RGB"), "PNG")


def sixteen_bit_png(digit, rng):
    levels = np.round((1 - ink_at(digit, 300)) * 65535).astype(np.uint16)
    return encode(Image.fromarray(levels), "PNG")  # uint16 → mode I;16


def small_bmp(digit, rng):
    return encode(grey_image(1 - ink_at(digit, 56)), "BMP")


def lossy_webp(digit, rng):
    ink = on_canvas(ink_at(digit, 180), (240, 320), rng)
    return encode(colour_image(ink, (40, 40, 40), (235, 230, 220)), "WEBP", quality=50)


def mnist_itself_png(digit, rng):
    """An MNIST digit as it is: preparing it again must change next to nothing."""
    return encode(Image.fromarray(digit), "PNG")


RENDERINGS = [
    mnist_itself_png,
    black_on_white_png,
    off_centre_blue_pen_jpeg,
    grey_noisy_uneven_jpeg,
    bold_strokes_png,
    thin_pen_png,
    dark_on_transparent_png,
    white_on_transparent_png,
    palette_gif,
    chalk_on_board_png,
    sixteen_bit_png,
    small_bmp,
    lossy_webp,
]


def number_image(digits: list[np.ndarray], rng: np.random.Generator) -> bytes:
    """Real digits written side by side (as MNIST crops them: a few pixels apart), black on grey paper."""
    strip = np.hstack(digits).astype(np.float32) / 255
    ink = np.asarray(Image.fromarray(strip, "F").resize((strip.shape[1] * 8, 28 * 8), Image.Resampling.BICUBIC))
    ink = on_canvas(ink.clip(0, 1), (28 * 8 + 80, strip.shape[1] * 8 + 120), rng)
    return encode(grey_image(0.85 - 0.75 * ink + rng.normal(0, 0.02, ink.shape)), "PNG")
