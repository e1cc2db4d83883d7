"""Property-based fuzzing (Hypothesis) of every parser of untrusted bytes: whatever comes in, only the
project's own errors (or a 4xx from the API) come out — never another exception, never a 5xx.

A quick pass runs in the suite; `make fuzz` runs the same properties with many more examples
(HYPOTHESIS_PROFILE=fuzz)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import struct

import numpy as np
import pytest
import test_image_containers
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from digitrec import imaging
from digitrec.data.idx import read_idx
from digitrec.data.kaggle import read_kaggle_csv
from digitrec.errors import DataError
from digitrec.imaging import containers, loading

settings.register_profile(
    "quick",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def idx_like() -> st.SearchStrategy[bytes]:
    """Bytes that often start like an IDX file: a plausible magic number and dimensions, then anything."""
    header = st.builds(
        lambda code, dims: struct.pack(">HBB", 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims),
        st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
        st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), min_size=0, max_size=5),
    )
    return st.one_of(st.binary(max_size=600), st.builds(bytes.__add__, header, st.binary(max_size=3000)))


@given(data=idx_like(), compress=st.booleans())
def test_idx_reader_raises_only_data_errors(tmp_path, data, compress):
    path = tmp_path / "fuzz.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        array = read_idx(path)
    except DataError:
        return
    assert isinstance(array, np.ndarray) and array.size * array.itemsize == len(data) - 4 - 4 * array.ndim


def csv_text() -> st.SearchStrategy[str]:
    cell = st.one_of(st.integers(-5, 300).map(str), st.sampled_from(["", "NA", "1.5", " 7", "x", "0x1", "1e3", '"3"']))
    row = st.lists(cell, min_size=0, max_size=790).map(",".join)
    header = st.one_of(st.just(HEADER), st.just(HEADER.removeprefix("label,")), st.text(max_size=50))
    newline = st.sampled_from(["\n", "\r\n", "\r"])
    return st.builds(lambda h, rows, nl: nl.join([h, *rows]) + nl, header, st.lists(row, max_size=4), newline)


@given(text=csv_text(), compress=st.booleans())
def test_kaggle_csv_reader_raises_only_data_errors(tmp_path, text, compress):
    data = text.encode()
    path = tmp_path / ("fuzz.csv.gz" if compress else "fuzz.csv")
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        images, labels = read_kaggle_csv(path)
    except DataError:
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
    assert labels is None or (labels.shape == (len(images),) and labels.max() <= 9)


def valid_image(fmt: str, size: tuple[int, int], mode: str) -> bytes:
    rng = np.random.default_rng(size[0] * 31 + size[1])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@st.composite
def image_bytes(draw) -> bytes:
    """Real images of every format, mode and odd size, then perhaps damaged: cut short, bytes flipped."""
    fmt = draw(st.sampled_from(["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"]))
    mode = draw(st.sampled_from(["L", "RGB"] + (["RGBA", "P", "1"] if fmt in ("PNG", "TIFF", "GIF") else [])))
    size = (draw(st.integers(1, 120)), draw(st.integers(1, 120)))
    data = bytearray(valid_image(fmt, size, mode))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data[:cut])


@given(data=st.one_of(image_bytes(), st.binary(max_size=400)))
def test_image_loading_raises_only_data_errors(data):
    try:
        digit = imaging.to_mnist(imaging.load_image(data, name="fuzz"))
    except DataError:
        return
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)


CONTAINER_STARTS = [
    b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\xff\xd8", b"GIF89a", b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00II*\x00\x08\x00\x00\x00",
]  # fmt: skip


@given(start=st.sampled_from(CONTAINER_STARTS), tail=st.binary(max_size=600))
def test_container_checks_raise_only_data_errors(start, tail):
    """The hand-written walks of TIFF/EXIF directories, JPEG markers, GIF blocks and PNG chunks on any
    bytes after a real signature: a DataError or nothing, never an IndexError or struct.error."""
    data = start + tail
    try:
        scans = containers.check_container(data, "fuzz", loading.MAX_PIXELS)
    except DataError:
        return
    assert scans >= 0
    assert containers.exif_orientation(data) is None or isinstance(containers.exif_orientation(data), int)


image_arrays = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=70),
    elements={"allow_nan": True, "allow_infinity": True},
)


@given(array=image_arrays)
def test_arrays_as_images_raise_only_data_errors(array):
    try:
        digit = imaging.to_mnist(array)
    except DataError:
        return
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=900,
)
json_bodies = st.one_of(
    json_values.map(json.dumps),
    st.builds(
        lambda rows: json.dumps({"pixels": rows}),
        st.lists(st.lists(st.integers(-2, 300), min_size=27, max_size=29), min_size=27, max_size=29),
    ),
    st.builds(lambda text: json.dumps({"image": text}), st.text(max_size=200)),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


@pytest.fixture(scope="module")
def client(predictor):
    from fastapi.testclient import TestClient

    from digitrec.serve import create_app

    with TestClient(create_app(predictor)) as test_client:
        yield test_client


@given(body=json_bodies)
def test_the_api_answers_any_json_with_a_result_or_a_4xx(client, body):
    response = client.post("/api/predict", content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code in (200, 413, 415, 422), response.text
    assert isinstance(response.json()["detail" if response.status_code != 200 else "digit"], (str, int))


@given(
    payload=st.one_of(image_bytes(), st.binary(max_size=500)),
    field=st.sampled_from(["file", "file", "upload"]),
    raw=st.binary(max_size=200),
)
def test_the_api_answers_any_upload_with_a_result_or_a_4xx(client, payload, field, raw):
    response = client.post("/api/predict", files={field: ("x.png", payload)})
    assert response.status_code in (200, 422), response.text
    mangled = client.post(
        "/api/predict", content=b"--b\r\n" + raw, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert mangled.status_code == 422, mangled.text


def pathological_tiff(width: int, height: int, tile: int | None, rows: int, short_offsets: bool) -> bytes:
    """A grey TIFF whose structure is valid but whose pieces (tiles of `tile`², or strips of `rows` rows)
    may be tiny and many, every offset pointing at the same byte: decoding cost set by the layout."""
    across = -(-width // tile) if tile else 1
    down = -(-height // (tile or rows))
    count = across * down
    typ, fmt = (3, "H") if short_offsets else (4, "I")
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
    entries += [(277, 3, 1, 1)]
    entries += [(322, 3, 1, tile), (323, 3, 1, tile)] if tile else [(278, 4, 1, rows)]
    pixel = 8 + 2 + 12 * (len(entries) + 2) + 4
    offsets_at = pixel + 1
    sizes_at = offsets_at + struct.calcsize(fmt) * count
    tags = (324, 325) if tile else (273, 279)
    entries += [(tags[0], typ, count, offsets_at), (tags[1], typ, count, sizes_at)]
    tail = b"\x80" + struct.pack(f"<{count}{fmt}", *[pixel] * count) + struct.pack(f"<{count}{fmt}", *[1] * count)
    return test_image_containers.tiff_structure(entries, tail)


@given(
    width=st.integers(1, 1500),
    height=st.integers(1, 1500),
    tile=st.none() | st.sampled_from([1, 2, 4, 16, 64]),  # multiples of 16 in the standard; Pillow takes any
    rows=st.integers(1, 64),
    short_offsets=st.booleans(),
)
@example(width=1500, height=1500, tile=1, rows=1, short_offsets=True)  # 2.25 M tiles: 15 s in Pillow unchecked
def test_tiffs_of_many_pieces_decode_within_a_bound_or_are_refused(width, height, tile, rows, short_offsets):
    """Structurally valid TIFFs cut into many pieces: refused before Pillow loops, or decoded in bounded
    time (a 10-s alarm catches a decoder that loops per piece in Python)."""
    data = pathological_tiff(width, height, tile, rows, short_offsets)
    with alarm(10), contextlib.suppress(DataError):
        imaging.load_image(data)


@given(width=st.integers(1, 60_000), height=st.integers(-3000, 3000).filter(bool))
@example(width=40_000, height=1000)  # 5 KB, 40 MP: 5 s of Python in Pillow unchecked (0.5 s at the cap)
def test_run_length_bmps_decode_within_a_bound_or_are_refused(width, height):
    with alarm(3), contextlib.suppress(DataError):
        imaging.load_image(test_image_containers.rle8_bmp(width, height))


class TookTooLong(BaseException):
    """Not an Exception: the loader's handlers, which turn a decoder's failure into a DataError, let it by."""


@contextlib.contextmanager
def alarm(seconds: int):
    def stop(*_):
        raise TookTooLong

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    except TookTooLong:
        pytest.fail(f"decoding took over {seconds} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
