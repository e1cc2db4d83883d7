"""The endpoints, thin: read the body, hand it to `digitrec.predict.reading` (the same image → answer path
as the CLI) with the predictor its dependency gives (`dependencies.py`), and shape the answer. Where the
work runs (on the event loop or in a worker thread) is `compute.CpuWork`'s decision."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse

from digitrec._version import __version__
from digitrec.predict import numbers, reading
from digitrec.serve import bodies
from digitrec.serve.compute import MNIST_PIXELS
from digitrec.serve.dependencies import MaxUploadBytes, Model, Options, Reader, StaticDir, Work
from digitrec.serve.schemas import (
    NUMBER_DESCRIPTION,
    NUMBER_REQUEST_BODY,
    PREDICT_DESCRIPTION,
    PREDICT_REQUEST_BODY,
    DigitPart,
    Health,
    NumberResponse,
    PredictResponse,
    error_responses,
)

router = APIRouter()


@router.post(
    "/api/predict",
    response_model=PredictResponse,
    summary="Recognise one digit",
    description=PREDICT_DESCRIPTION,
    responses=error_responses(408, 413, 415, 422, 503),
    openapi_extra={"requestBody": PREDICT_REQUEST_BODY},
)
async def predict(request: Request, predictor: Model, work: Work, options: Options) -> PredictResponse:
    data, name = await bodies.read_body(request)
    if isinstance(data, np.ndarray):
        answer = (await work.run(MNIST_PIXELS, reading.read_mnist, data, predictor, name, options))[0]
    else:
        answer = await work.run(work.pixels_of(data), reading.read_image, data, predictor, name, options)
    return PredictResponse(
        digit=answer.top3[0][0],
        confidence=answer.confidence,
        probabilities=answer.probabilities,
        not_digit=answer.not_digit,
        digit_score=answer.digit_score,
        model=predictor.name,
    )


@router.post(
    "/api/read-number",
    response_model=NumberResponse,
    summary="Read a number written in a row",
    description=NUMBER_DESCRIPTION,
    responses=error_responses(408, 413, 415, 422, 503),
    openapi_extra={"requestBody": NUMBER_REQUEST_BODY},
)
async def read_number(
    request: Request, reader: Reader, predictor: Model, work: Work, options: Options
) -> NumberResponse:
    data, name = await bodies.read_body(request)
    if isinstance(data, np.ndarray):
        raise HTTPException(422, "a number is sent as an image ('image' or a file), not as 28×28 'pixels'")
    answer = await work.run(None, numbers.read_line, data, reader, name, predictor, options)
    parts = [
        DigitPart(digit=p.digit or 0, confidence=p.confidence, top3=p.top3, not_digit=p.not_digit) for p in answer.parts
    ]
    return NumberResponse(
        digits=answer.digits or "",
        confidence=answer.confidence,
        parts=parts,
        not_digit=answer.not_digit,
        model=reader.name,
    )


@router.get("/api/health", response_model=Health, summary="Liveness and the model in use")
async def health(predictor: Model, max_upload_bytes: MaxUploadBytes) -> Health:
    return Health(status="ok", model=predictor.name, version=__version__, max_upload_bytes=max_upload_bytes)


@router.get("/", include_in_schema=False)
async def index(static_dir: StaticDir) -> FileResponse:
    return FileResponse(static_dir / "index.html")
