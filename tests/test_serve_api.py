"""The REST API of `digitrec serve`, through FastAPI's TestClient, with the real bundled model; and the
`digitrec serve` command itself."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient

from digitrec.cli import main as cli_main
from digitrec.serve import DEFAULT_MAX_UPLOAD_BYTES, create_app

from helpers import png_bytes


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor)) as test_client:
        yield test_client


def as_scan(image: np.ndarray) -> Image.Image:
    """An MNIST digit as a user might upload it: dark ink on light paper, enlarged, in colour, JPEG'd."""
    paper = Image.fromarray(255 - image).resize((196, 196), Image.Resampling.BICUBIC)
    return Image.merge("RGB", (paper, paper, paper.point(lambda v: v * 0.9)))


def check_prediction(response, expected_digit: int, model_name: str) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] == expected_digit
    assert len(body["probabilities"]) == 10
    assert body["probabilities"][body["digit"]] == pytest.approx(body["confidence"])
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert body["confidence"] == max(body["probabilities"])
    assert body["model"] == model_name
    return body


# ---------------------------------------------------------------------------------------------- good requests


def test_health(client, predictor):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["model"] == predictor.name
    assert response.json()["max_upload_bytes"] == DEFAULT_MAX_UPLOAD_BYTES


def test_pixels_are_used_as_is(client, predictor, one_per_class):
    """28×28 pixels skip the image pipeline: the API answers exactly what the predictor says."""
    for image, digit in one_per_class:
        body = check_prediction(client.post("/api/predict", json={"pixels": image.tolist()}), digit, predictor.name)
        np.testing.assert_allclose(body["probabilities"], predictor.predict_proba(image[np.newaxis])[0], atol=1e-6)


ENCODINGS = {
    "base64 PNG": lambda image: {"json": {"image": base64.b64encode(png_bytes(image)).decode()}},
    "PNG data URL": lambda image: {
        "json": {"image": "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()}
    },
    "multipart PNG": lambda image: {"files": {"file": ("digit.png", png_bytes(image), "image/png")}},
    "multipart JPEG scan, dark on light": lambda image: {
        "files": {"file": ("scan.jpg", png_bytes(as_scan(image), "JPEG"), "image/jpeg")}
    },
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_real_digits_in_every_encoding(client, predictor, one_per_class, encoding):
    for image, digit in one_per_class:
        check_prediction(client.post("/api/predict", **ENCODINGS[encoding](image)), digit, predictor.name)


class ThreadCheckingPredictor:
    """The real predictor, optionally slowed down, noting for each call whether it ran on the event loop."""

    def __init__(self, predictor, seconds: float = 0.0):
        self.predictor, self.name, self.seconds, self.on_event_loop = predictor, predictor.name, seconds, []

    def predict_proba(self, images, **kwargs):
        time.sleep(self.seconds)
        try:
            asyncio.get_running_loop()
            self.on_event_loop.append(True)
        except RuntimeError:
            self.on_event_loop.append(False)
        return self.predictor.predict_proba(images, **kwargs)


def sized(image: np.ndarray, width: int, height: int, text_bytes: int = 0) -> bytes:
    """An MNIST digit enlarged to width × height as a PNG, with `text_bytes` of metadata making the file larger."""
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if text_bytes:
        info.add_text("padding", "x" * text_bytes)
    Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def where_answered(predictor, requests: dict, seconds: float = 0.0) -> dict[str, bool]:
    """{name: whether its image was answered on the event loop} for each request, each answer checked."""
    checking = ThreadCheckingPredictor(predictor, seconds)
    with TestClient(create_app(checking)) as test_client:
        where = {}
        for name, (kwargs, digit) in requests.items():
            calls = len(checking.on_event_loop)
            check_prediction(test_client.post("/api/predict", **kwargs), digit, predictor.name)
            assert len(checking.on_event_loop) == calls + 1
            where[name] = checking.on_event_loop[-1]
    return where


def test_small_work_runs_on_the_event_loop_the_rest_in_worker_threads(predictor, one_per_class):
    """Pixels and images up to 320×320 pixels and 256 KiB are answered right on the event loop (the hand-over
    to a thread costs more than their work); anything larger, in pixels or bytes, in a worker thread."""
    image, digit = one_per_class[3]
    requests = {
        "pixels": ({"json": {"pixels": image.tolist()}}, digit),
        "150-px photo": ({"files": {"file": ("d.jpg", png_bytes(as_scan(image).resize((150, 150)), "JPEG"))}}, digit),
        "base64 320×320": ({"json": {"image": base64.b64encode(sized(image, 320, 320)).decode()}}, digit),
        "320×320": ({"files": {"file": ("d.png", sized(image, 320, 320))}}, digit),
        "321×320": ({"files": {"file": ("d.png", sized(image, 321, 320))}}, digit),
        "base64 640×480": ({"json": {"image": base64.b64encode(sized(image, 640, 480)).decode()}}, digit),
        "150-px, 256 KiB": ({"files": {"file": ("d.png", sized(image, 150, 150, text_bytes=256 * 1024))}}, digit),
    }
    where = where_answered(predictor, requests)
    assert where == {
        "pixels": True,
        "150-px photo": True,
        "base64 320×320": True,
        "320×320": True,
        "321×320": False,
        "base64 640×480": False,
        "150-px, 256 KiB": False,
    }


def test_a_slow_predictor_always_runs_in_worker_threads(predictor, one_per_class):
    """A predictor slower than 3 ms per image (a Keras model, a large ensemble) never blocks the event loop."""
    image, digit = one_per_class[3]
    requests = {
        "pixels": ({"json": {"pixels": image.tolist()}}, digit),
        "150-px": ({"files": {"file": ("d.png", sized(image, 150, 150))}}, digit),
    }
    assert where_answered(predictor, requests, seconds=0.004) == {"pixels": False, "150-px": False}


def test_the_server_runs_each_images_operations_on_one_thread(predictor):
    """Parallel requests use the cores; OpenCV's pool splitting each small operation only adds CPU time."""
    import cv2

    cv2.setNumThreads(2)
    try:
        create_app(predictor)
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(-1)  # OpenCV's default again, for the tests after this one


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/api/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert set(predict["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"pixels", "image"}
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Prediction")
    assert {"413", "415", "422"} <= set(predict["responses"])
    assert set(spec["components"]["schemas"]["Prediction"]["properties"]) == {
        "digit",
        "confidence",
        "probabilities",
        "model",
    }
    assert "/api/health" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_page_and_its_assets_are_served_and_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element_id in ("canvas", "clear", "file-input", "prediction", "confidence", "probabilities"):
        assert f'id="{element_id}"' in page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert {"/static/app.js", "/static/style.css"} <= set(assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        # The page must work offline: nothing may be fetched from another host.
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", response.text), asset
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page.text)


# ---------------------------------------------------------------------------------------------- bad requests


def blank_png() -> bytes:
    return png_bytes(Image.new("RGB", (120, 90), (250, 250, 250)))


def chunks(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


BAD_REQUESTS = {
    # name: (request keyword arguments, status, a phrase the detail must contain)
    "garbage bytes": ({"files": {"file": ("x.png", os.urandom(2000), "image/png")}}, 422, "not an image"),
    "truncated PNG": ({"files": {"file": ("x.png", png_bytes(np.full((28, 28), 200, np.uint8))[:60])}}, 422, "x.png"),
    "empty file": ({"files": {"file": ("empty.png", b"", "image/png")}}, 422, "empty"),
    "blank image": ({"files": {"file": ("blank.png", blank_png(), "image/png")}}, 422, "no ink"),
    "no file field": ({"files": {"upload": ("d.png", blank_png(), "image/png")}}, 422, "file: missing"),
    "wrong shape": ({"json": {"pixels": [[0] * 28] * 27}}, 422, "pixels"),
    "ragged rows": ({"json": {"pixels": [[0] * 28] * 27 + [[0] * 5]}}, 422, "pixels[27]"),
    "value over 255": (
        {"json": {"pixels": [[0] * 28] * 5 + [[0] * 3 + [256] + [0] * 24] + [[0] * 28] * 22}},
        422,
        "pixels[5][3]",
    ),
    "negative value": ({"json": {"pixels": [[-1] * 28] * 28}}, 422, "greater than or equal to 0"),
    "fractional value": ({"json": {"pixels": [[0.5] * 28] * 28}}, 422, "integer"),
    "no ink in pixels": ({"json": {"pixels": [[0] * 28] * 28}}, 422, "no ink"),
    "bad base64": ({"json": {"image": "this is *not* base64"}}, 422, "base64"),
    "base64 of garbage": (
        {"json": {"image": base64.b64encode(b"GIF89a but not really").decode()}},
        422,
        "not an image",
    ),
    "data URL without base64": ({"json": {"image": "data:image/png,%89PNG"}}, 422, "base64"),
    "both fields": ({"json": {"pixels": [[0] * 28] * 28, "image": "AAAA"}}, 422, "exactly one"),
    "no field": ({"json": {}}, 422, "exactly one"),
    "unknown field": ({"json": {"digits": [1]}}, 422, "digits"),
    "malformed JSON": (
        {"content": b'{"pixels": [[0, 1,', "headers": {"content-type": "application/json"}},
        422,
        "JSON",
    ),
    "JSON not an object": ({"json": [[0] * 28] * 28}, 422, "object"),
    "malformed multipart": (
        {
            "content": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nxx',
            "headers": {"content-type": "multipart/form-data; boundary=b"},
        },
        422,
        "file",
    ),
    "wrong content type": ({"content": b"\x89PNG", "headers": {"content-type": "image/png"}}, 415, "image/png"),
    "no content type": ({"content": b"{}"}, 415, "content type"),
    "oversized body": (
        {"content": b"0" * (DEFAULT_MAX_UPLOAD_BYTES + 1), "headers": {"content-type": "application/json"}},
        413,
        "limit",
    ),
    "oversized upload": ({"files": {"file": ("big.png", b"0" * DEFAULT_MAX_UPLOAD_BYTES, "image/png")}}, 413, "limit"),
}


def check_error(response, status: int, phrase: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert phrase.lower() in detail.lower()


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(client, name):
    kwargs, status, phrase = BAD_REQUESTS[name]
    check_error(client.post("/api/predict", **kwargs), status, phrase)


def test_oversized_body_without_a_length_is_cut_off(client):
    """A chunked body declares no length: the limit is enforced as the bytes arrive."""
    response = client.post(
        "/api/predict",
        content=chunks(b" " * (DEFAULT_MAX_UPLOAD_BYTES + 10)),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    check_error(response, 413, "limit")


def test_upload_limit_is_configurable(predictor):
    with TestClient(create_app(predictor, max_upload_bytes=1000)) as small:
        assert small.get("/api/health").json()["max_upload_bytes"] == 1000
        assert small.post("/api/predict", files={"file": ("d.png", os.urandom(1200))}).status_code == 413
        assert small.post("/api/predict", files={"file": ("d.png", os.urandom(100))}).status_code == 422


class FailingAfterStartPredictor:
    """The real predictor until start-up is done (`broken` set), then failing, as a bug in inference would."""

    def __init__(self, predictor):
        self.predictor, self.name, self.broken = predictor, predictor.name, False

    def predict_proba(self, images, **kwargs):
        if self.broken:
            raise RuntimeError("inference bug")
        return self.predictor.predict_proba(images, **kwargs)


def test_a_server_bug_is_a_json_500_without_a_traceback(predictor):
    failing = FailingAfterStartPredictor(predictor)
    app = create_app(failing)
    failing.broken = True
    with TestClient(app, raise_server_exceptions=False) as broken:
        response = broken.post("/api/predict", json={"pixels": [[255] * 28] * 28})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (RuntimeError); see the server log"}


def test_other_methods_and_paths(client):
    assert client.get("/api/predict").status_code == 405
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/static/missing.js").status_code == 404


# ---------------------------------------------------------------------------------------------- the command


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_reports_a_busy_port_in_one_line(capsys, workers):
    # With workers the port is held with SO_REUSEPORT, which still refuses a port another socket holds.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli_main(["serve", "--port", str(port), "--workers", workers]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitrec: error: cannot listen on 127.0.0.1:") and err.count("\n") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_reports_a_bad_model_in_one_line(tmp_path, capsys, workers):
    model = str(tmp_path / "missing.keras")
    assert cli_main(["serve", "--port", "0", "--workers", workers, "--model", model]) == 1
    err = capsys.readouterr().err
    assert "missing.keras" in err and err.count("\n") == 1


def test_serve_refuses_a_silly_number_of_workers(capsys):
    assert cli_main(["serve", "--port", "0", "--workers", "65"]) == 1
    err = capsys.readouterr().err
    assert "--workers 65" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["serve", "--workers", "0"])
    assert exit_info.value.code == 2


def test_serve_rejects_a_bad_port():
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["serve", "--port", "70000"])
    assert exit_info.value.code == 2


def test_serve_command_prints_its_url_and_serves(tmp_path):
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitrec", "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL in {line!r}; stderr: {log.read_text()[-2000:]}"
        with urllib.request.urlopen(f"{match.group(0)}api/health", timeout=30) as response:
            assert response.status == 200
            assert b'"model":"bundled"' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)
