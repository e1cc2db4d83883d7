"""The public Python API on real digits: paths, bytes, PIL images and arrays give the same answers; the
probabilities are probabilities; predict_proba matches the CLI's accuracy; multi-digit numbers; the
project's own one-line errors; and `import digitrec` starts no backend."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import digitrec
from digitrec import bundled
from digitrec.predict.local import BATCH

from renderings import black_on_white_png, number_image


@pytest.fixture(scope="module")
def rec():
    return digitrec.load()


@pytest.fixture(scope="module")
def photos(one_per_class, tmp_path_factory):
    """One photo-like PNG per digit, as bytes and as a file."""
    folder = tmp_path_factory.mktemp("api")
    rng = np.random.default_rng(5)
    out = []
    for image, digit in one_per_class:
        data = black_on_white_png(image, rng)
        path = folder / f"digit-{digit}.png"
        path.write_bytes(data)
        out.append((path, data, digit))
    return out


def test_every_kind_of_input_gives_the_same_answer(rec, photos):
    paths = [path for path, _, _ in photos]
    expected = [digit for _, _, digit in photos]
    by_path = rec.predict(paths)
    by_str = rec.predict([str(p) for p in paths])
    by_bytes = rec.predict([data for _, data, _ in photos])
    pil_images = [Image.open(p) for p in paths]
    by_pil = rec.predict(pil_images)
    by_array = rec.predict([np.asarray(image) for image in pil_images])
    for results in (by_path, by_str, by_bytes, by_pil, by_array):
        assert [r.digit for r in results] == expected
        np.testing.assert_allclose([r.probabilities for r in results], [r.probabilities for r in by_path], atol=1e-6)
    assert [r.file for r in by_path] == [str(p) for p in paths]
    assert by_bytes[0].file == "<bytes #0>" and by_array[3].file == "<array #3>"


def test_a_single_input_needs_no_list_and_an_array_of_any_polarity_and_size_works(rec, one_per_class):
    image, digit = one_per_class[7]
    [mnist_format] = rec.predict(image)  # light ink on black, 28×28, as MNIST
    big_dark_on_light = np.asarray(Image.fromarray(255 - image).resize((200, 200), Image.Resampling.BICUBIC))
    [photo] = rec.predict(big_dark_on_light)
    assert mnist_format.digit == photo.digit == digit


def test_predictions_are_probabilities(rec, photos):
    for result in rec.predict([data for _, data, _ in photos]):
        assert len(result.probabilities) == 10 and sum(result.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert result.confidence == max(result.probabilities) == result.probabilities[result.digit]
        assert [d for d, _ in result.top3] == list(np.argsort(result.probabilities)[::-1][:3])


def test_predict_proba_on_mnist_test_matches_the_recorded_accuracy(rec, mnist):
    probabilities = rec.predict_proba(mnist.x_test)
    assert probabilities.shape == (10_000, 10)
    errors = int((probabilities.argmax(1) != mnist.y_test).sum())
    assert errors == json.loads(bundled.META.read_text())["mnist_test_errors"]
    floats = rec.predict_proba((mnist.x_test[:50] / 255.0).astype(np.float32)[..., None])
    np.testing.assert_allclose(floats, probabilities[:50], atol=1e-5)


def test_files_of_many_images_answer_each_with_its_index(rec, mnist, tmp_path):
    from digitrec.data.idx import write_idx

    write_idx(tmp_path / "five.idx.gz", mnist.x_test[:5])
    results = rec.predict(tmp_path / "five.idx.gz")
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.digit for r in results] == list(rec.predict_proba(mnist.x_test[:5]).argmax(1))


def test_read_number(rec, mnist):
    rng = np.random.default_rng(11)
    picks = [0, 1, 2, 3]  # 7, 2, 1, 0: surely read
    number = rec.read_number(number_image(list(mnist.x_test[picks]), rng))
    assert number.digits == "".join(str(d) for d in mnist.y_test[picks])
    assert len(number.parts) == 4 and [p.digit for p in number.parts] == list(mnist.y_test[picks])
    assert 0.5 < number.confidence <= 1  # the whole number's probability: four surely read digits


def test_read_number_of_sixteen_digits(rec, one_per_class):
    """A long number (a card, an ID): its digits are as large as the row is high however long the row."""
    rng = np.random.default_rng(12)
    picks = [*range(10), *range(6)]
    number = rec.read_number(number_image([one_per_class[d][0] for d in picks], rng))
    # all sixteen read, at most one of them wrong (the reader's 20-digit rows: 99.6 % of digits right); a row
    # squashed to the height of one digit loses many
    assert len(number.digits) == 16
    assert sum(a != b for a, b in zip(number.digits, "0123456789012345")) <= 1


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"not an image", "not an image file"),
        ("/no/such/file.png", "no such file"),
        (np.zeros((40, 40), np.uint8), "no ink found"),
        (np.zeros((3, 3, 7)), "expected an image array"),
        (12345, "cannot read a int"),
    ],
)
def test_bad_input_raises_the_projects_one_line_errors(rec, bad, message):
    with pytest.raises(digitrec.DataError, match=message) as error:
        rec.predict([bad])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [5, None, 2.5])
def test_what_is_neither_an_input_nor_a_list_of_them_is_one_line(rec, bad):
    with pytest.raises(
        digitrec.DataError, match=f"predict takes an image, a path, bytes or a list of them, not a {type(bad).__name__}"
    ):
        rec.predict(bad)


def test_the_first_input_that_cannot_be_read_stops_the_rest_being_read(rec, photos):
    """Inputs are read lazily, in order, a batch at a time: an endless stream with a bad input early on
    raises after one batch, instead of reading on (or answering everything before raising)."""
    taken = []

    def endless():
        yield photos[0][1]
        yield b"not an image"
        for path, _, _ in itertools.cycle(photos):
            taken.append(path)
            yield path

    with pytest.raises(digitrec.DataError, match="not an image file"):
        rec.predict(endless())
    assert 0 < len(taken) <= BATCH


def test_a_buffer_is_one_images_bytes(rec, photos):
    _, data, digit = photos[0]
    assert rec.predict(memoryview(data))[0].digit == digit


def test_file_objects_and_buffers_in_a_list_are_one_image_each(rec, photos):
    """A binary file object is one image file (it used to be read line by line, each line an "image")."""
    path, data, digit = photos[2]
    with path.open("rb") as handle:
        [from_file] = rec.predict(handle)
    assert from_file.digit == digit and from_file.file == str(path)
    results = rec.predict([io.BytesIO(data), memoryview(data), bytearray(data)])
    assert [r.digit for r in results] == [digit] * 3
    with path.open() as text, pytest.raises(digitrec.DataError, match="opened in binary mode"):
        rec.predict(text)


def test_images_pillow_cannot_read_or_take_to_grey(rec, photos, tmp_path):
    """A lazily opened file decodes when read: truncated data, or an image closed before, is a DataError;
    a LAB image (Pillow cannot take it to grey directly) reads like its RGB original."""
    path, data, digit = photos[4]
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(digitrec.DataError, match="truncated.png|<PIL image #0>"):
        rec.predict(Image.open(truncated))
    closed = Image.open(path)
    closed.close()
    with pytest.raises(digitrec.DataError, match="unusable image"):
        rec.predict(closed)
    lab = Image.open(path).convert("RGB").convert("LAB")
    assert rec.predict(lab)[0].digit == digit


@pytest.mark.parametrize("name", ["digit.ico", "photo.avif"])
def test_files_starting_with_two_zero_bytes_are_images_unless_an_idx_magic_follows(rec, photos, tmp_path, name):
    """ICO, AVIF and HEIC files start with two zero bytes, as IDX does: they were read as bad IDX files."""
    if name.endswith(".ico"):
        Image.open(photos[6][0]).convert("RGB").save(tmp_path / name, sizes=[(128, 128)])
    else:
        (tmp_path / name).write_bytes(b"\0\0\0\x20ftypavif" + bytes(100))
    with pytest.raises(digitrec.DataError, match=f"{name}: not an image file \\(or not one of PNG"):
        rec.predict(tmp_path / name)


@pytest.mark.parametrize("bad", [2, -1, 0, float("nan"), "0.5", True])
def test_min_confidence_must_be_a_probability(rec, photos, bad):
    with pytest.raises(digitrec.DataError, match="min_confidence must be a number in"):
        rec.predict(photos[0][1], min_confidence=bad)


def test_read_number_takes_one_image_not_a_file_of_many(rec, mnist, tmp_path):
    idx = tmp_path / "two.idx"
    idx.write_bytes(b"\0\0\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + mnist.x_test[:2].tobytes())
    assert [r.digit for r in rec.predict(idx)] == [7, 2]  # the file is fine; read_number is the wrong call
    with pytest.raises(digitrec.DataError, match="read it with predict"):
        rec.read_number(idx)


def test_names_of_inputs_that_are_neither(rec, photos):
    with pytest.raises(digitrec.DataError, match="<int #1>: cannot read a int"):
        rec.predict([photos[0][1], 5])


def test_predict_proba_refuses_a_ragged_list(rec, mnist):
    with pytest.raises(digitrec.DataError, match="must all be 28×28"):
        rec.predict_proba([mnist.x_test[0], mnist.x_test[0][:3]])


@pytest.mark.parametrize(
    "source, threads, error, message",
    [
        ("", None, "ModelError", "the model path is empty"),
        (123, None, "ModelError", "a model is a path"),
        (None, 2.5, "ConfigError", "threads must be a positive integer"),
        (None, 0, "ConfigError", "threads must be a positive integer"),
    ],
)
def test_load_refuses_what_is_not_a_model_path(source, threads, error, message):
    with pytest.raises(getattr(digitrec, error), match=message):
        digitrec.load(source, threads=threads)


def test_an_onnx_model_may_have_an_upper_case_suffix(tmp_path, rec, mnist):
    model = tmp_path / "MODEL.ONNX"
    model.write_bytes(bundled.ONNX.read_bytes())
    shouting = digitrec.load(model)
    np.testing.assert_allclose(
        shouting.predict_proba(mnist.x_test[:50]), rec.predict_proba(mnist.x_test[:50]), atol=1e-6
    )


def test_predict_proba_refuses_what_is_not_mnist_format(rec):
    with pytest.raises(digitrec.DataError, match="expected uint8 images"):
        rec.predict_proba(np.zeros((2, 32, 32), np.uint8))


def test_a_missing_model_is_a_model_error():
    with pytest.raises(digitrec.ModelError, match="no such"):
        digitrec.load("no-such-run")


def test_importing_and_loading_the_bundled_model_start_no_tensorflow():
    script = (
        "import sys, digitrec; rec = digitrec.load(); rec.predict_proba(__import__('numpy').zeros((1, 28, 28), "
        "'uint8')); print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_api_is_documented_and_small():
    assert set(digitrec.__all__) >= {"load", "train", "evaluate", "Prediction", "Recognizer", "DataError"}
    for name in ("load", "train", "evaluate"):
        assert getattr(digitrec, name).__doc__
    with pytest.raises(AttributeError):
        digitrec.no_such_thing  # noqa: B018


def test_the_python_api_raises_only_its_own_errors(rec):
    """A NUL in a path (os.stat's ValueError), no run at all (a TypeError deep inside), a file object whose
    read fails with an error of its own: each a DigitrecError with one line."""
    with pytest.raises(digitrec.DataError, match="not a usable file path"):
        rec.predict("a\x00.png")
    with pytest.raises(digitrec.ConfigError, match="run directory's path"):
        digitrec.evaluate(None)

    class Broken(io.RawIOBase):
        def read(self, size=-1):
            raise RuntimeError("disk on fire")

    with pytest.raises(digitrec.DataError, match=r"cannot read \(RuntimeError: disk on fire\)"):
        rec.predict(Broken())
