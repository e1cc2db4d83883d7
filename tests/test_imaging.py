"""User images → MNIST format, on real MNIST test digits rendered the way people produce digit images:
scaled up, black on white, off-centre, on grey noisy paper with uneven light, bold or thin strokes, with a
transparent background, as palette GIFs, JPEG, 16-bit PNG, chalk on a board. The prepared digits must be
read by the bundled model about as well as the original 28×28 digits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from digitrec import imaging
from digitrec.errors import DataError

import hostile
from renderings import (
    RENDERINGS,
    bold_strokes_png,
    encode,
    grey_image,
    grey_noisy_uneven_jpeg,
    ink_at,
    number_image,
    off_centre_blue_pen_jpeg,
    thin_pen_png,
)

COUNT = 200  # real t10k digits per rendering (13 renderings: about 25 s in all on one CPU core)
SEED = 20240611


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sample(mnist):
    """COUNT real test digits and their labels, the same for every rendering."""
    pick = np.random.default_rng(SEED).choice(len(mnist.x_test), COUNT, replace=False)
    return mnist.x_test[pick], mnist.y_test[pick]


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


@pytest.mark.slow  # 13 renderings × 200 digits: about 45 s
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


def test_a_colour_jpeg_is_decoded_straight_to_its_luma():
    # A blue pen on cream paper: decoded as luma (what the preprocessing uses), within JPEG's rounding of
    # the luma of its colour decoding; a CMYK JPEG, which libjpeg cannot decode to luma, stays CMYK.
    rows, cols = np.mgrid[0:96, 0:96]
    colour = np.stack([230 - cols, 220 - rows // 2, 180 + 0 * rows], axis=-1).astype(np.uint8)
    colour[30:70, 44:52] = (20, 40, 160)
    data = encode(Image.fromarray(colour, "RGB"), "JPEG", quality=90)
    loaded = imaging.load_image(data)
    assert loaded.mode == "L"
    with Image.open(io.BytesIO(data)) as decoded:
        luma = np.asarray(decoded.convert("RGB").convert("L"), int)
    assert np.abs(np.asarray(loaded, int) - luma).max() <= 2
    cmyk = encode(Image.fromarray(colour, "RGB").convert("CMYK"), "JPEG")
    assert imaging.load_image(cmyk).mode == "CMYK"


def test_a_camera_mpo_is_decoded_at_reduced_scale_like_a_jpeg():
    # MPO (a camera's JPEG with its previews appended) is JPEG to the decoder: reduced-scale decoding to
    # luma too, so a 2048-px photo decodes at 512 px instead of whole, the same pixels as a plain JPEG's.
    rows, cols = np.mgrid[0:1536, 0:2048]
    photo = Image.fromarray(((rows // 8 + cols // 8) % 256).astype(np.uint8)).convert("RGB")
    mpo, jpeg = encode(photo, "MPO", save_all=True, append_images=[photo]), encode(photo, "JPEG")
    with Image.open(io.BytesIO(mpo)) as opened:
        assert opened.format == "MPO"
    loaded = imaging.load_image(mpo)
    assert (loaded.mode, loaded.size) == ("L", (512, 384))
    assert np.array_equal(np.asarray(loaded), np.asarray(imaging.load_image(jpeg)))


# ---------------------------------------------------------------------------------------------- no ink, bad files


def _no_ink_images():
    rng = np.random.default_rng(SEED)
    yield "white", np.full((200, 300), 255, np.uint8)
    yield "mid grey", np.full((200, 300), 128, np.uint8)
    yield "black", np.zeros((50, 50), np.uint8)
    yield "four pixels", np.zeros((4, 4), np.uint8)
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


@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (20, 1001)])
def test_an_image_too_small_or_elongated_for_a_digit_is_refused(shape):
    with pytest.raises(DataError, match="cannot hold a digit"):
        imaging.to_mnist(np.zeros(shape, np.uint8))


def _png(size=(40, 30)) -> bytes:
    return encode(Image.new("L", size, 200), "PNG")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"hello, I am text pretending to be a PNG\n", "not an image file"),
        (bytes(range(256)) * 8, "not an image file"),
        (_png()[:-30], "corrupt or truncated"),
        (_png()[:60], "corrupt or truncated"),
        (encode(Image.new("1", (8000, 6000)), "PNG"), "too large"),  # 48 MP in a few kB: a decompression bomb
        # A progressive JPEG decodes at full size (a baseline one of 144 MP is read at 1/8 scale per side).
        (hostile.jpeg_progressive_claiming(12000, 12000), r"image too large \(12000×12000 pixels, at most 40 MP\)"),
        (hostile.jpeg_many_scans(), r"progressive JPEG of \d{4} scans over 320×320 pixels, too costly"),
    ],
    ids=["empty", "text", "random bytes", "truncated end", "truncated data", "bomb", "progressive bomb", "scans"],
)
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        imaging.load_image(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "content, pixels",
    [
        (encode(Image.new("RGB", (37, 23)), "PNG"), 37 * 23),
        (encode(Image.new("L", (150, 90)), "JPEG"), 150 * 90),
        (encode(Image.new("L", (150, 90)), "JPEG", progressive=True), None),  # its scans, not pixels, tell its cost
        (encode(Image.new("1", (8000, 6000)), "PNG"), 48_000_000),  # a bomb: declared, never decoded
        (_png()[:60], 40 * 30),  # the header is whole; the pixels' truncation is load_image's to find
        (_png()[:20], None),
        (hostile.png_text_chunks(), None),  # its header is longer than the 4 KiB read: unknown, not inflated
        (hostile.jpeg_many_markers(), None),
        (hostile.png_text_chunks(total=3000), 100 * 100),
        (hostile.jpeg_many_markers(total=3000), 100 * 100),
        (b"hello, I am text pretending to be a PNG\n", None),
        (b"", None),
    ],
    ids=[
        *("png", "jpeg", "progressive jpeg", "bomb", "truncated data", "truncated header"),
        *("text chunks", "markers", "few text chunks", "few markers", "text", "empty"),
    ],
)
def test_the_declared_size_is_read_from_the_header_alone(content, pixels):
    assert imaging.declared_pixels(content) == pixels


def test_a_progressive_jpeg_decodes_to_the_pixels_of_the_baseline_one():
    """The same coefficients in another order: the scan limits refuse only what is too costly."""
    photo = Image.fromarray((np.random.default_rng(SEED).random((300, 200)) * 255).astype(np.uint8))
    baseline, progressive = (encode(photo, "JPEG", quality=90, progressive=p) for p in (False, True))
    assert imaging.declared_pixels(baseline) == 300 * 200 and imaging.declared_pixels(progressive) is None
    np.testing.assert_array_equal(np.asarray(imaging.load_image(progressive)), np.asarray(imaging.load_image(baseline)))


def test_missing_file_and_directory_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        imaging.load_image(tmp_path / "absent.png")
    with pytest.raises(DataError, match="is a directory"):
        imaging.load_image(tmp_path)


# ---------------------------------------------------------------------------------------------- several digits


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


def test_a_large_float_array_is_converted_without_copies_of_its_size():
    """A float64 image is scaled to bytes a block of rows at a time: the temporaries stay small (scaled
    whole, a 6000×6600 array peaked at three times its own size)."""
    import tracemalloc

    from digitrec.imaging.loading import check_image

    array = np.random.default_rng(0).random((3000, 3000))  # 72 MB
    tracemalloc.start()
    try:
        check_image(array, "big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * array.nbytes, f"{peak / 2**20:.0f} MiB for a {array.nbytes / 2**20:.0f} MiB array"
