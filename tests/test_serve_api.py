"""The REST API of `digitrec serve` through FastAPI's TestClient, with the bundled model; the command itself."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient

from digitrec.cli import main as cli_main
from digitrec.serve import DEFAULT_MAX_UPLOAD_BYTES, create_app

from helpers import check_prediction
from renderings import as_scan, png_bytes


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor)) as test_client:
        yield test_client


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
    "base64 wrapped at 76 (MIME)": lambda image: {"json": {"image": base64.encodebytes(png_bytes(image)).decode()}},
    "DATA:…;BASE64, URL": lambda image: {
        "json": {"image": f"DATA:;BASE64,{base64.b64encode(png_bytes(image)).decode()}"}
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


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/api/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert set(predict["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"pixels", "image"}
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictResponse")
    assert set(predict["responses"]) == {"200", "408", "413", "415", "422", "503"}
    assert set(spec["components"]["schemas"]["PredictResponse"]["properties"]) == {
        "digit",
        "confidence",
        "probabilities",
        "not_digit",
        "digit_score",
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
    yield from (data[start : start + size] for start in range(0, len(data), size))


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
    "pixels as text": ({"json": {"pixels": [["255"] * 28] * 28}}, 422, "integer"),
    "pixels as booleans": ({"json": {"pixels": [[True] * 28] * 28}}, 422, "integer"),
    "no ink in pixels": ({"json": {"pixels": [[0] * 28] * 28}}, 422, "no ink (every value is 0;"),
    "pixels all one value": ({"json": {"pixels": [[255] * 28] * 28}}, 422, "no ink (every value is 255;"),
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
        response = broken.post("/api/predict", json={"pixels": [[0] * 28] + [[255] * 28] * 27})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (RuntimeError); see the server log"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers


def test_a_server_bug_reaches_an_allowed_origin_as_a_500_and_no_other(predictor):
    """Starlette answers a 500 outside the CORS middleware: the handler itself must allow the origin, or a
    page on it would see a network error instead of the JSON."""
    failing = FailingAfterStartPredictor(predictor)
    app = create_app(failing, cors_origins=("https://elsewhere.example",))
    failing.broken = True
    body = {"pixels": [[0] * 28] + [[255] * 28] * 27}
    with TestClient(app, raise_server_exceptions=False) as broken:
        allowed = broken.post("/api/predict", json=body, headers={"origin": "https://elsewhere.example"})
        other = broken.post("/api/predict", json=body, headers={"origin": "https://evil.example"})
    assert allowed.status_code == other.status_code == 500
    assert allowed.headers["access-control-allow-origin"] == "https://elsewhere.example"
    assert "access-control-allow-origin" not in other.headers


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


def test_a_loopback_server_answers_only_to_loopback_names(predictor):
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 reaches a local server;
    `digitrec serve` on 127.0.0.1 answers only requests whose Host is a loopback name (or one allowed)."""
    from digitrec.serve.middleware import LOOPBACK_HOSTS

    app = create_app(predictor, allowed_hosts=(*LOOPBACK_HOSTS, "digits.lan"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/health").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "LOCALHOST", "digits.lan:80"):
            assert client.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""):
            answer = client.get("/api/health", headers={"host": host})
            assert answer.status_code == 400 and "unexpected Host header" in answer.json()["detail"], host
