"""The web app: a draw-a-digit page and a small REST API over one predictor held in app state.

Endpoints (routes.py)
    GET  /              the page (static files under /static)
    POST /api/predict   an image → {"digit", "confidence", "probabilities", "model"}; the body is either
                        multipart/form-data with a `file` field (PNG, JPEG, … any photo or scan of a digit),
                        or JSON {"pixels": 28×28 ints 0–255, white ink on black (MNIST)}
                        or JSON {"image": base64 PNG/JPEG, optionally a `data:` URL}
    GET  /api/health    {"status": "ok", "model": name, ...}
    GET  /docs          OpenAPI docs (/openapi.json)

Errors are always JSON {"detail": "<one line naming the field>"}, never a traceback (500 only for a bug):
    408  the request body did not arrive within `body_timeout` seconds
    413  the request body is larger than `max_upload_bytes`
    415  the content type is neither application/json nor multipart/form-data
    422  anything else wrong with the body: malformed JSON or multipart, a missing or unknown field, a
         wrong array shape, values out of range, bad base64, bytes that are not an image, a blank image
    503  more than `max_in_flight` API requests at once (with Retry-After)

Every response carries security headers (middleware.py); cross-origin requests are refused by browsers
unless `cors_origins` names the origins allowed. A client that disconnects mid-request is dropped quietly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from digitrec import imaging
from digitrec._version import __version__
from digitrec.errors import DataError
from digitrec.inference.reader import NumberReader, load_reader
from digitrec.predict.reading import ProbabilityModel, ReadOptions
from digitrec.serve.compute import CpuWork
from digitrec.serve.middleware import (
    AllowedHosts,
    BodyDeadline,
    BodySizeLimit,
    InFlightLimit,
    SecurityHeaders,
    security_headers,
)
from digitrec.serve.routes import router

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_IN_FLIGHT = 32  # more than the 2–16 cores a server has; each request is a few ms of CPU
DEFAULT_BODY_TIMEOUT = 20.0  # seconds to send at most 5 MB: 2 Mbit/s


def create_app(
    predictor: ProbabilityModel | None = None,
    model_source: str | os.PathLike | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    *,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    cors_origins: tuple[str, ...] = (),
    reader: NumberReader | None = None,
    allowed_hosts: tuple[str, ...] = (),
    reject: float | None = None,
) -> FastAPI:
    """Build the app around `predictor`, or load one from `model_source` (None: the bundled model) now,
    so a bad model fails here rather than on the first request. `reject`: the digit-check threshold below
    which an image is "not a digit" (None: the bundled default; 0: no check)."""
    if predictor is None:
        from digitrec.inference import load_predictor  # noqa: PLC0415 (a .keras model pulls in Keras)

        # One ONNX Runtime thread per inference: a request is one image (~0.3 ms), too small to split, and
        # the pool's second thread spins after each run, costing ~5 ms of CPU and latency per request on
        # 2 cores (measured); requests in parallel use the cores instead (`cpu_work` below).
        predictor = load_predictor(model_source, threads=1)
    # One OpenCV thread per image operation, for the same reason: parallel requests use the cores (docs/design.md).
    imaging.use_threads(1)
    # The first call traces the model; pay that at start-up rather than on a user's first stroke.
    predictor.predict_proba(np.zeros((1, 28, 28), np.uint8))

    app = FastAPI(
        title="digitrec",
        version=__version__,
        description="Handwritten-digit recognition. Draw a digit at `/`, or POST an image to `/api/predict`.",
    )
    app.state.predictor = predictor
    app.state.read_options = ReadOptions(reject=reject)
    if app.state.read_options.threshold() > 0:  # the digit check loads now, not on a user's first stroke
        getattr(predictor, "digit_scores", lambda _: None)(np.zeros((1, 28, 28), np.uint8))
    app.state.reader = reader if reader is not None else load_reader(threads=1)  # the bundled number reader
    app.state.max_upload_bytes = max_upload_bytes
    app.state.static_dir = STATIC_DIR
    # Small requests are answered on the event loop; the others in worker threads, at most one per core
    # at once: more only adds memory (a few large uploads decoding together) and latency. The others wait
    # their turn (or get 503 beyond max_in_flight). See compute.py.
    app.state.cpu_work = CpuWork(predictor)
    app.state.cors_origins = frozenset(cors_origins)
    # Added last = outermost: headers on every answer, even a 503 from the in-flight limit.
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes)
    app.add_middleware(BodyDeadline, seconds=body_timeout)
    app.add_middleware(InFlightLimit, limit=max_in_flight)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        )
    app.add_middleware(SecurityHeaders)
    if allowed_hosts:  # outermost: a request for another host is refused before anything else
        app.add_middleware(AllowedHosts, hosts=allowed_hosts)
    app.add_exception_handler(DataError, _bad_data)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _server_error)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _bad_data(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=400)  # nobody is listening; nothing worth a log line


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback server-side; the client gets JSON like every other answer. This handler
    # runs outside the middleware, so it adds the security headers, and for an allowed origin the CORS
    # header, itself (without it a page on that origin would see a network error, not this answer).
    headers = security_headers(request.url.path)
    origin = request.headers.get("origin")
    if origin is not None and origin in request.app.state.cors_origins:
        headers |= {"access-control-allow-origin": origin, "vary": "Origin"}
    return JSONResponse(
        {"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500, headers=headers
    )
