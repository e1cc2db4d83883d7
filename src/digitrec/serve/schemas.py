"""The API's request and response shapes (pydantic), and the OpenAPI text that documents them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SIDE = 28
PREDICT_DESCRIPTION = """Send one image as **either**

* `multipart/form-data` with a file field `file` (a PNG, JPEG, … photo or scan; any polarity or size),
* JSON `{"pixels": [[...28 ints 0–255...], ...28 rows]}`: white ink on black, the MNIST convention, used as is,
* JSON `{"image": "<base64 PNG/JPEG>"}`, optionally a `data:image/png;base64,...` URL.

Images are converted to MNIST form (grey, light ink on dark, cropped, fitted to 20×20, centred by mass).

Errors are JSON `{"detail": "..."}`: **408** the body did not arrive in time, **413** body too large,
**415** content type is not JSON or multipart, **422** anything else wrong with the body (malformed
JSON/multipart, missing or unknown field, wrong shape, value out of range, bad base64, not an image, blank
image), **503** the server is busy (retry after the `Retry-After` header's seconds)."""

Pixel = Annotated[int, Field(ge=0, le=255, strict=True)]  # an int: not "255", not true, not 255.0
Row = Annotated[list[Pixel], Field(min_length=SIDE, max_length=SIDE)]


class PredictRequest(BaseModel):
    """Exactly one of `pixels` or `image`."""

    model_config = ConfigDict(extra="forbid")

    pixels: Annotated[list[Row], Field(min_length=SIDE, max_length=SIDE)] | None = Field(
        default=None, description="28×28 grey levels 0–255, white ink on black (the MNIST convention)"
    )
    image: str | None = Field(
        default=None, description="a base64 PNG or JPEG, optionally as a data: URL; any polarity or size"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.pixels is None) == (self.image is None):
            raise ValueError("give exactly one of 'pixels' or 'image'")
        return self


class PredictResponse(BaseModel):
    """The answer of `POST /api/predict`: one digit."""

    digit: int = Field(ge=0, le=9, description="the most probable digit (with not_digit: only the guess)")
    confidence: float = Field(ge=0, le=1, description="its probability")
    probabilities: list[float] = Field(min_length=10, max_length=10, description="P(digit) for 0–9")
    not_digit: bool | None = Field(
        description="the image does not look like a digit at all (a letter, a scribble, a photo…); "
        "null when the server makes no such check (serve --reject 0)"
    )
    digit_score: float | None = Field(ge=0, le=1, description="the digit check's score: below the threshold, not_digit")
    model: str = Field(description="the model that answered")


class DigitPart(BaseModel):
    digit: int = Field(ge=0, le=9, description="one digit of the number, left to right")
    confidence: float = Field(ge=0, le=1, description="its probability where the reader is surest of it")
    top3: list[tuple[int, float]] = Field(description="its three likeliest digits with their probabilities")
    not_digit: bool | None = Field(
        default=None, description="this position does not look like a digit (a letter, a sign…); null: no check"
    )


class NumberResponse(BaseModel):
    """The answer of `POST /api/read-number`: the digits of a number written in a row."""

    digits: str = Field(description="the digits read, left to right (empty: no digit found)")
    confidence: float = Field(ge=0, le=1, description="calibrated probability that the whole number is right")
    parts: list[DigitPart] = Field(description="one entry per digit")
    not_digit: bool | None = Field(
        default=None, description="no position of the line looks like a digit; null: no check (serve --reject 0)"
    )
    model: str = Field(description="the number reader that answered")


NUMBER_DESCRIPTION = """Send one image of a number written in a row (digits spaced, touching or overlapping; on
plain, ruled or squared paper or in a form's boxes) as `multipart/form-data` with a file field `file`, or as
JSON `{"image": "<base64 PNG/JPEG>"}`. It is read by the number reader, without cutting it into digits.
Errors as for `/api/predict`."""


class Health(BaseModel):
    status: str
    model: str
    version: str
    max_upload_bytes: int


class ErrorDetail(BaseModel):
    detail: str


def error_responses(*codes: int) -> dict[int | str, Any]:
    return {code: {"model": ErrorDetail} for code in codes}


# The endpoint reads the body itself (it takes two content types), so the request schema is declared here.
PREDICT_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "an image file"}},
            }
        },
    },
}


NUMBER_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "description": "a base64 PNG or JPEG, or a data: URL"}},
            }
        },
        "multipart/form-data": PREDICT_REQUEST_BODY["content"]["multipart/form-data"],
    },
}


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors in one line: the first one, with its location, and how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    text = f"{location or 'body'}: {message}"
    return text + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")
