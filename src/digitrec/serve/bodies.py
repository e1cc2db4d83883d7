"""Reading a request body (/api/predict, /api/read-number): JSON (pixels or a base64 image) or a multipart upload. Every
problem is a `DataError` (→ 422) whose one line names the field."""

from __future__ import annotations

import base64
import binascii

import numpy as np
from fastapi import Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException  # the base class: Starlette raises it for bad multipart

from digitrec.data.checks import uniform_images
from digitrec.errors import DataError
from digitrec.serve.schemas import PredictRequest, validation_message

JSON, MULTIPART = "application/json", "multipart/form-data"


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request) -> tuple[bytes | np.ndarray, str]:
    """What a request sends and a name for it: JSON's `image` bytes or `pixels` array, or a multipart
    upload's bytes; 415 for another content type."""
    kind = content_type(request)
    if kind == JSON:
        body = await read_json(request)
        return body, "pixels" if isinstance(body, np.ndarray) else "image"
    if kind == MULTIPART:
        return await read_upload(request)
    problem = f"unsupported content type {kind!r}" if kind else "missing content type"
    raise HTTPException(415, problem + ": send application/json or multipart/form-data")


async def read_json(request: Request) -> bytes | np.ndarray:
    """The image bytes of `{"image": ...}`, or the uint8 (1, 28, 28) array of `{"pixels": ...}`."""
    try:
        body = PredictRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise DataError(validation_message(exc)) from None
    if body.image is not None:
        return decode_base64_image(body.image)
    pixels = np.asarray(body.pixels, dtype=np.uint8)[np.newaxis]
    if uniform_images(pixels)[0]:
        raise DataError(
            f"pixels: no ink (every value is {pixels.flat[0]}; the digit must be light on a dark background)"
        )
    return pixels


async def read_upload(request: Request) -> tuple[bytes, str]:
    """The bytes and a name of the multipart file field `file`."""
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise DataError("file: missing (send the image as a multipart file field named 'file')")
            data = await upload.read()
    except HTTPException as exc:  # Starlette's 400 for a malformed multipart body; our 408 and 413 pass on
        if exc.status_code != 400:
            raise
        raise DataError(f"malformed multipart body: {exc.detail}") from None
    name = f"file {upload.filename!r}" if upload.filename else "file"
    if not data:
        raise DataError(f"{name}: is empty")
    return data, name


def decode_base64_image(text: str) -> bytes:
    if text[:5].lower() == "data:":  # RFC 2397: the scheme and ";base64" in any case
        header, comma, text = text.partition(",")
        if not comma or not header.lower().endswith(";base64"):
            raise DataError("image: a data: URL must be base64 (data:image/png;base64,...)")
    try:
        # Line breaks and spaces are dropped first: many encoders wrap base64 at 64 or 76 characters.
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DataError("image: not valid base64") from None
    if not data:
        raise DataError("image: empty")
    return data
