"""Where `digitrec serve` does a request's CPU work: small requests right on the event loop when the model is
quick, the rest in worker threads (`digitrec.serve.compute`), and OpenCV held to one thread per image."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient

from digitrec.serve import create_app
from digitrec.serve.compute import CpuWork

from helpers import check_prediction
from renderings import as_scan, encode, png_bytes


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
        "progressive 150-px photo": (
            {"files": {"file": ("d.jpg", encode(as_scan(image).resize((150, 150)), "JPEG", progressive=True))}},
            digit,
        ),
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
        "progressive 150-px photo": False,
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


def test_one_worker_thread_per_usable_core(predictor, monkeypatch):
    """The cores this process may use (its affinity), or the machine's where the platform cannot tell."""
    assert CpuWork(predictor).limiter.total_tokens == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert CpuWork(predictor).limiter.total_tokens == 3
