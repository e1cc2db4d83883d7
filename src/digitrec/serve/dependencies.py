"""What the routes need, reached through FastAPI's dependencies: built once by `create_app`, held in app
state, and replaceable in tests with `app.dependency_overrides`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from digitrec.inference.reader import NumberReader
from digitrec.predict.reading import ProbabilityModel, ReadOptions
from digitrec.serve.compute import CpuWork


def predictor(request: Request) -> ProbabilityModel:
    """The model that answers every request."""
    return request.app.state.predictor


def number_reader(request: Request) -> NumberReader:
    """The number reader that answers `/api/read-number`."""
    return request.app.state.reader


def read_options(request: Request) -> ReadOptions:
    """How images are answered: the server's digit-check threshold (`serve --reject`)."""
    return request.app.state.read_options


def cpu_work(request: Request) -> CpuWork:
    """Where a request's CPU-bound work runs (on the event loop or in a worker thread)."""
    return request.app.state.cpu_work


def max_upload_bytes(request: Request) -> int:
    return request.app.state.max_upload_bytes


def static_dir(request: Request) -> Path:
    return request.app.state.static_dir


Model = Annotated[ProbabilityModel, Depends(predictor)]
Reader = Annotated[NumberReader, Depends(number_reader)]
Options = Annotated[ReadOptions, Depends(read_options)]
Work = Annotated[CpuWork, Depends(cpu_work)]
MaxUploadBytes = Annotated[int, Depends(max_upload_bytes)]
StaticDir = Annotated[Path, Depends(static_dir)]
