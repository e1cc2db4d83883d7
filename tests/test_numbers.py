"""Numbers as people write them, read by the bundled number reader through every path: the Python API,
`predict --multi`, and the server's /api/read-number. Lines are composed from MNIST *test* digits (writers
the reader never saw) in the hard kinds, touching and overlapping included."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import digitrec
from digitrec.data.lines import compose
from digitrec.imaging.line import MAX_LINE_WIDTH


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def lines(mnist):
    rng = np.random.default_rng(2026)
    found = []
    for kind in ("touching", "overlapping", "tight", "ruled", "boxed", "slanted"):
        for _ in range(10):
            picks = rng.integers(0, len(mnist.x_test), int(rng.integers(3, 9)))
            found.append(compose(mnist.x_test[picks], mnist.y_test[picks], kind, rng))
    return found


@pytest.fixture(scope="module")
def rec():
    return digitrec.load()


def test_touching_and_overlapping_numbers_are_read_whole(rec, lines):
    """The blob segmenter reads ~15 % of touching and ~7 % of overlapping numbers of these writers right."""
    answers = [rec.read_number(png(line.image)) for line in lines]
    right = [a.digits == line.label for a, line in zip(answers, lines)]
    assert np.mean(right) >= 0.75, [(a.digits, line.label, line.kind) for a, line in zip(answers, lines)]
    for answer in answers:
        assert len(answer.parts) == len(answer.digits) and 0 <= answer.confidence <= 1
        assert all(part.top3[0][0] == part.digit for part in answer.parts)
    # the whole-number confidence means something: the wrong ones are less sure than the right ones
    if not all(right):
        sure = np.array([a.confidence for a in answers])
        assert sure[np.array(right)].mean() > sure[~np.array(right)].mean()


def test_the_same_number_from_a_file_an_array_and_a_pil_image(rec, lines, tmp_path):
    line = lines[0]
    path = tmp_path / "n.png"
    path.write_bytes(png(line.image))
    answers = {rec.read_number(path).digits, rec.read_number(line.image).digits}
    answers.add(rec.read_number(Image.fromarray(line.image)).digits)
    assert len(answers) == 1


def test_predict_multi_prints_the_number(lines, tmp_path, capsys):
    from digitrec.cli import main

    paths = []
    for index, line in enumerate(lines[:4]):
        paths.append(tmp_path / f"n{index}.png")
        paths[-1].write_bytes(png(line.image))
    assert main(["predict", "--multi", "--json", *map(str, paths)]) == 0
    out = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert [o["file"] for o in out] == list(map(str, paths))
    assert sum(o["digits"] == line.label for o, line in zip(out, lines[:4])) >= 3
    assert all(len(o["parts"]) == len(o["digits"]) for o in out)
    assert main(["predict", "--reader", "x.onnx", str(paths[0])]) == 2  # --reader goes with --multi


def test_a_row_of_ten_thousand_digits_is_one_line(rec):
    """Bounded: the row is refused by its size before any model runs (or, under the size cap, by length)."""
    strip = np.full((40, 40 * 10_000 // 8), 230, np.uint8)
    strip[10:30, ::7] = 20
    with pytest.raises(digitrec.DataError) as caught:
        rec.read_number(strip)
    assert "\n" not in str(caught.value)
    wide = np.full((30, (MAX_LINE_WIDTH + 400) // 2), 230, np.uint8)
    wide[8:22, 4:-4:5] = 20
    with pytest.raises(digitrec.DataError, match="too long|at most 50:1"):
        rec.read_number(wide)


def test_the_server_reads_numbers(lines):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from digitrec.serve import create_app

    client = TestClient(create_app())
    data = png(lines[1].image)
    upload = client.post("/api/read-number", files={"file": ("n.png", data, "image/png")})
    assert upload.status_code == 200, upload.text
    body = upload.json()
    assert set(body) == {"digits", "confidence", "parts", "not_digit", "model"} and body["model"] == "bundled reader"
    import base64

    as_json = client.post("/api/read-number", json={"image": base64.b64encode(data).decode()})
    assert as_json.json()["digits"] == body["digits"]
    pixels = client.post("/api/read-number", json={"pixels": [[0] * 14 + [255] * 14] * 28})
    assert pixels.status_code == 422 and "not as 28×28" in pixels.json()["detail"]
    assert client.post("/api/read-number", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    spec = client.get("/openapi.json").json()
    assert "/api/read-number" in spec["paths"]
