"""User images → MNIST format, on real MNIST test digits rendered the way people produce digit images:
scaled up, black on white, off-centre, on grey noisy paper with uneven light, bold or thin strokes, with a
transparent background, as palette GIFs, JPEG, 16-bit PNG, chalk on a board. The prepared digits must be
read by the bundled model about as well as the original 28×28 digits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from digitrec import imaging
from digitrec.errors import DataError

COUNT = 200  # real t10k digits per rendering (13 renderings: about 25 s in all on one CPU core)
SEED = 20240611

pytestmark = pytest.mark.shared_data


# ---------------------------------------------------------------------------------------------- rendering


def ink_at(digit: np.ndarray, size: int) -> np.ndarray:
    """An MNIST digit scaled up to size×size as ink strength 0–1 (smooth edges, like a pen)."""
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), np.float32).clip(0, 255) / 255


def on_canvas(ink: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Place `ink` at a random spot of a larger empty canvas (height, width)."""
    canvas = np.zeros(shape, np.float32)
    top = rng.integers(0, shape[0] - ink.shape[0] + 1)
    left = rng.integers(0, shape[1] - ink.shape[1] + 1)
    canvas[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
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


RENDERINGS = [mnist_itself_png, black_on_white_png, off_centre_blue_pen_jpeg, grey_noisy_uneven_jpeg, bold_strokes_png,
              thin_pen_png, dark_on_transparent_png, white_on_transparent_png, palette_gif, chalk_on_board_png,
              sixteen_bit_png, small_bmp, lossy_webp]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sample(mnist):
    """COUNT real test digits and their labels, the same for every rendering."""
    pick = np.random.default_rng(SEED).choice(len(mnist.x_test), COUNT, replace=False)
    return mnist.x_test[pick], mnist.y_test[pick]


@pytest.fixture(scope="module")
def predictor():
    from digitrec.predict import load_predictor

    return load_predictor()


def accuracy(predictor, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictor.predict_proba(images).argmax(axis=1) == labels))


@pytest.fixture(scope="module")
def baseline(predictor, sample):
    """The model's accuracy on the original 28×28 digits."""
    return accuracy(predictor, *sample)


# ---------------------------------------------------------------------------------------------- accuracy

# Measured on these 200 digits with the bundled model: baseline (the original 28×28 digits) 1.000, and
# 1.000 for every rendering except bold strokes 0.975 and the thin pen 0.990. (With a weaker 1-epoch model:
# baseline 0.975, renderings 0.96–0.985; bold digits fed as 28×28 score 0.76 there: thinning their strokes
# is what brings them back.)
TOLERANCE = {bold_strokes_png: 0.05, thin_pen_png: 0.03}


@pytest.mark.parametrize("render", RENDERINGS, ids=lambda render: render.__name__)
def test_rendered_digits_are_read_about_as_well_as_the_originals(render, sample, predictor, baseline):
    digits, labels = sample
    rng = np.random.default_rng(SEED)
    prepared = np.stack([imaging.to_mnist(imaging.load_image(render(digit, rng))) for digit in digits])
    assert prepared.shape == (COUNT, 28, 28) and prepared.dtype == np.uint8
    assert accuracy(predictor, prepared, labels) >= baseline - TOLERANCE.get(render, 0.02)


def test_prepared_digits_look_like_mnist(sample):
    """Fitted into 20 px, centred by mass at MNIST's centre, strokes saturated, close to the original."""
    digits, _ = sample
    rng = np.random.default_rng(SEED)
    differences, correlations = [], []
    for digit in digits[:40]:
        prepared = imaging.to_mnist(imaging.load_image(off_centre_blue_pen_jpeg(digit, rng))).astype(np.float64)
        rows, cols = np.nonzero(prepared)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == 20
        centre = [(np.indices(prepared.shape)[axis] * prepared).sum() / prepared.sum() for axis in (0, 1)]
        assert np.allclose(centre, imaging.MNIST_CENTRE, atol=0.75)
        assert prepared.max() == 255
        differences.append(np.abs(prepared - digit).mean())
        correlations.append(np.corrcoef(prepared.ravel(), digit.ravel())[0, 1])
    # Measured: median difference 7.3 grey levels per pixel, median correlation 0.96 (a pixel of shift
    # or of stroke width is most of the difference).
    assert np.median(differences) < 10
    assert np.median(correlations) > 0.92


def test_polarity_is_detected_both_ways(sample):
    digits, _ = sample
    for digit in digits[:20]:
        ink = ink_at(digit, 200)
        dark_on_light = imaging.to_mnist(imaging.load_image(encode(grey_image(0.9 - 0.8 * ink), "PNG")))
        light_on_dark = imaging.to_mnist(imaging.load_image(encode(grey_image(0.1 + 0.8 * ink), "PNG")))
        assert np.abs(dark_on_light.astype(int) - light_on_dark).mean() < 3
        assert np.corrcoef(dark_on_light.ravel(), digit.ravel())[0, 1] > 0.8


def test_exif_orientation_is_applied(sample):
    upright = grey_image(1 - ink_at(sample[0][0], 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    stored = encode(upright.rotate(90, expand=True), "PNG", exif=exif)
    assert np.array_equal(np.asarray(imaging.load_image(stored)), np.asarray(upright))


@pytest.mark.parametrize("mode", ["1", "LA", "RGB", "CMYK", "P", "I", "F"])
def test_every_image_mode_is_prepared_alike(mode, sample):
    digit = sample[0][1]
    reference = imaging.to_mnist(grey_image(1 - ink_at(digit, 200)))
    image = grey_image(1 - ink_at(digit, 200))
    converted = image.convert(mode) if mode != "F" else Image.fromarray(np.asarray(image, np.float32) / 255, "F")
    difference = np.abs(imaging.to_mnist(converted).astype(int) - reference).mean()
    assert difference < (12 if mode == "1" else 2)  # "1" is dithered black and white


# ---------------------------------------------------------------------------------------------- no ink, bad files


def _no_ink_images():
    rng = np.random.default_rng(SEED)
    yield "white", np.full((200, 300), 255, np.uint8)
    yield "mid grey", np.full((200, 300), 128, np.uint8)
    yield "black", np.zeros((50, 50), np.uint8)
    yield "one pixel", np.zeros((1, 1), np.uint8)
    yield "gradient", np.tile(np.linspace(30, 230, 300), (200, 1)).astype(np.uint8)
    yield "gaussian noise", rng.normal(128, 30, (300, 300)).clip(0, 255).astype(np.uint8)
    yield "uniform noise", rng.integers(0, 256, (300, 300)).astype(np.uint8)
    yield "salt and pepper", np.where(rng.random((300, 300)) < 0.01, 0, 255).astype(np.uint8)
    yield "noisy photo of blank paper", grey_noisy_uneven_jpeg(np.zeros((28, 28), np.uint8), rng)
    yield "transparent", encode(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "PNG")


@pytest.mark.parametrize("name, image", list(_no_ink_images()), ids=[name for name, _ in _no_ink_images()])
def test_an_image_without_ink_is_an_error_not_a_guess(name, image):
    if isinstance(image, bytes):
        image = imaging.load_image(image)
    with pytest.raises(DataError, match="no ink found"):
        imaging.to_mnist(image)
    with pytest.raises(DataError, match="no ink found"):
        imaging.segment_digits(image)


def _png(size=(40, 30)) -> bytes:
    return encode(Image.new("L", size, 200), "PNG")


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"hello, I am text pretending to be a PNG\n", "not an image file"),
    (bytes(range(256)) * 8, "not an image file"),
    (_png()[:-30], "corrupt or truncated"),
    (_png()[:60], "corrupt or truncated"),
    (encode(Image.new("1", (8000, 6000)), "PNG"), "too large"),  # 48 MP in a few kB: a decompression bomb
], ids=["empty", "text", "random bytes", "truncated end", "truncated data", "decompression bomb"])
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        imaging.load_image(path)
    assert str(path) in str(error.value)


def test_missing_file_and_directory_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        imaging.load_image(tmp_path / "absent.png")
    with pytest.raises(DataError, match="is a directory"):
        imaging.load_image(tmp_path)


# ---------------------------------------------------------------------------------------------- several digits


def number_image(digits: list[np.ndarray], rng: np.random.Generator) -> bytes:
    """Real digits written side by side (as MNIST crops them: a few pixels apart), black on grey paper."""
    strip = np.hstack(digits).astype(np.float32) / 255
    ink = np.asarray(Image.fromarray(strip, "F").resize((strip.shape[1] * 8, 28 * 8), Image.Resampling.BICUBIC))
    ink = on_canvas(ink.clip(0, 1), (28 * 8 + 80, strip.shape[1] * 8 + 120), rng)
    return encode(grey_image(0.85 - 0.75 * ink + rng.normal(0, 0.02, ink.shape)), "PNG")


def test_segment_digits_reads_numbers(mnist, predictor):
    """Measured with the bundled model: all 30 numbers split into the right count and read right (with a
    1-epoch model: 30 and 25)."""
    rng = np.random.default_rng(SEED)
    counted = read = 0
    for _ in range(30):
        pick = rng.choice(len(mnist.x_test), rng.integers(3, 5), replace=False)
        digits = imaging.segment_digits(imaging.load_image(number_image(list(mnist.x_test[pick]), rng)))
        assert all(d.shape == (28, 28) and d.dtype == np.uint8 for d in digits)
        counted += len(digits) == len(pick)
        if len(digits) == len(pick):
            read += np.array_equal(predictor.predict_proba(np.stack(digits)).argmax(axis=1), mnist.y_test[pick])
    assert counted >= 28
    assert read >= 27
