"""The web app: a draw-a-digit page and a small REST API over one `Predictor`.

Endpoints
    GET  /              the page (static files under /static)
    POST /api/predict   an image → {"digit", "confidence", "probabilities", "model"}; the body is either
                        multipart/form-data with a `file` field (PNG, JPEG, … any photo or scan of a digit),
                        or JSON {"pixels": 28×28 ints 0–255, white ink on black (MNIST)}
                        or JSON {"image": base64 PNG/JPEG, optionally a `data:` URL}
    GET  /api/health    {"status": "ok", "model": name, ...}
    GET  /docs          OpenAPI docs (/openapi.json)

Errors are always JSON {"detail": "<one line naming the field>"}, never a traceback (500 only for a bug):
    413  the request body is larger than `max_upload_bytes`
    415  the content type is neither application/json nor multipart/form-data
    422  anything else wrong with the body: malformed JSON or multipart, a missing or unknown field, a
         wrong array shape, values out of range, bad base64, bytes that are not an image, a blank image.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from digitrec import __version__, imaging
from digitrec.errors import DataError

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SIDE = 28
PREDICT_DESCRIPTION = """Send one image as **either**

* `multipart/form-data` with a file field `file` (a PNG, JPEG, … photo or scan; any polarity or size),
* JSON `{"pixels": [[...28 ints 0–255...], ...28 rows]}`: white ink on black, the MNIST convention, used as is,
* JSON `{"image": "<base64 PNG/JPEG>"}`, optionally a `data:image/png;base64,...` URL.

Images are converted to MNIST form (grey, light ink on dark, cropped, fitted to 20×20, centred by mass).

Errors are JSON `{"detail": "..."}`: **413** body too large, **415** content type is not JSON or
multipart, **422** anything else wrong with the body (malformed JSON/multipart, missing or unknown field,
wrong shape, value out of range, bad base64, not an image, blank image)."""

Pixel = Annotated[int, Field(ge=0, le=255)]
Row = Annotated[list[Pixel], Field(min_length=SIDE, max_length=SIDE)]


class PredictRequest(BaseModel):
    """Exactly one of `pixels` or `image`."""

    model_config = ConfigDict(extra="forbid")

    pixels: Annotated[list[Row], Field(min_length=SIDE, max_length=SIDE)] | None = Field(
        default=None, description="28×28 grey levels 0–255, white ink on black (the MNIST convention)")
    image: str | None = Field(
        default=None, description="a base64 PNG or JPEG, optionally as a data: URL; any polarity or size")

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.pixels is None) == (self.image is None):
            raise ValueError("give exactly one of 'pixels' or 'image'")
        return self


class Prediction(BaseModel):
    digit: int = Field(ge=0, le=9, description="the most probable digit")
    confidence: float = Field(ge=0, le=1, description="its probability")
    probabilities: list[float] = Field(min_length=10, max_length=10, description="P(digit) for 0–9")
    model: str = Field(description="the model that answered")


class Health(BaseModel):
    status: str
    model: str
    version: str
    max_upload_bytes: int


class ErrorDetail(BaseModel):
    detail: str


def _error_responses(*codes: int) -> dict:
    return {code: {"model": ErrorDetail} for code in codes}


# The endpoint reads the body itself (it takes two content types), so the request schema is declared here.
_PREDICT_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()},
        "multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": "an image file"}},
        }},
    },
}


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than the {limit}-byte limit")


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by its Content-Length or, when streamed, as it
    arrives, so an oversized upload is never buffered whole."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            response = JSONResponse({"detail": error.detail}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return await self.app(scope, limited_receive, send)


def _validation_message(exc: ValidationError) -> str:
    """Pydantic's errors in one line: the first one, with its location, and how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    text = f"{location or 'body'}: {message}"
    return text + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")


def _decode_base64_image(text: str) -> bytes:
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise DataError("image: a data: URL must be base64 (data:image/png;base64,...)")
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DataError("image: not valid base64") from None
    if not data:
        raise DataError("image: empty")
    return data


def _image_to_mnist(data: bytes, name: str) -> np.ndarray:
    image = imaging.load_image(data, name=name)  # its errors name the source already
    try:
        return imaging.to_mnist(image)
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None


def create_app(predictor=None, model_source=None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> FastAPI:
    """Build the app around `predictor`, or load one from `model_source` (None: the bundled model) now,
    so a bad model fails here rather than on the first request."""
    if predictor is None:
        from digitrec.predict import load_predictor  # noqa: PLC0415 (pulls in Keras)

        predictor = load_predictor(model_source)
    # The first call traces the model; pay that at start-up rather than on a user's first stroke.
    predictor.predict_proba(np.zeros((1, SIDE, SIDE), np.uint8))

    app = FastAPI(
        title="digitrec",
        version=__version__,
        description="Handwritten-digit recognition. Draw a digit at `/`, or POST an image to `/api/predict`.",
    )
    app.state.predictor = predictor
    app.add_middleware(BodySizeLimit, max_bytes=max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(DataError)
    async def _bad_data(request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback server-side; the client gets JSON like every other answer.
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"},
                            status_code=500)

    def predict_images(images: np.ndarray) -> Prediction:
        probabilities = predictor.predict_proba(images)[0]
        digit = int(np.argmax(probabilities))
        return Prediction(digit=digit, confidence=float(probabilities[digit]),
                          probabilities=[float(p) for p in probabilities], model=predictor.name)

    def predict_bytes(data: bytes, name: str) -> Prediction:
        return predict_images(_image_to_mnist(data, name)[np.newaxis])

    async def predict_json(request: Request) -> Prediction:
        try:
            body = PredictRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise DataError(_validation_message(exc)) from None
        if body.image is not None:
            return await run_in_threadpool(predict_bytes, _decode_base64_image(body.image), "image")
        pixels = np.asarray(body.pixels, dtype=np.uint8)
        if not pixels.any():
            raise DataError("pixels: no ink (all values are 0; the digit must be light on a dark background)")
        return await run_in_threadpool(predict_images, pixels[np.newaxis])

    async def read_upload(request: Request) -> tuple[bytes, str]:
        try:
            async with request.form(max_files=1, max_fields=10) as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise DataError("file: missing (send the image as a multipart file field named 'file')")
                data = await upload.read()
        except HTTPException as exc:  # Starlette's 400 for a malformed multipart body
            if exc.status_code == 413:
                raise
            raise DataError(f"malformed multipart body: {exc.detail}") from None
        name = f"file {upload.filename!r}" if upload.filename else "file"
        if not data:
            raise DataError(f"{name}: is empty")
        return data, name

    @app.post(
        "/api/predict",
        response_model=Prediction,
        summary="Recognise one digit",
        description=PREDICT_DESCRIPTION,
        responses=_error_responses(413, 415, 422),
        openapi_extra={"requestBody": _PREDICT_REQUEST_BODY},
    )
    async def predict(request: Request) -> Prediction:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return await predict_json(request)
        if content_type == "multipart/form-data":
            return await run_in_threadpool(predict_bytes, *await read_upload(request))
        raise HTTPException(415, (f"unsupported content type {content_type!r}" if content_type else
                                  "missing content type") + ": send application/json or multipart/form-data")

    @app.get("/api/health", response_model=Health, summary="Liveness and the model in use")
    async def health() -> Health:
        return Health(status="ok", model=predictor.name, version=__version__, max_upload_bytes=max_upload_bytes)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    return app
