"""Inputs → answers, the one path from a user's image to a `Prediction`, shared by the CLI, the server and
the Python API.

Inputs are image files (one digit each, or a number of several digits with `multi`), IDX files and Kaggle
CSVs (one answer per image inside), or in memory: image bytes, PIL images and numpy arrays (images of any
size and polarity, prepared like files). A bad input becomes a `Failure`; the others are still answered.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
from PIL import Image

from digitrec import imaging
from digitrec.data.idx import looks_like_idx
from digitrec.data.sources import is_csv_name
from digitrec.data.streams import GZIP_MAGIC
from digitrec.errors import DataError, DigitrecError
from digitrec.inference.digit_check import default_threshold

log = logging.getLogger(__name__)

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray


class ProbabilityModel(Protocol):
    """What answers images: `digitrec.inference.Predictor`, or anything with its `predict_proba` and `name`."""

    name: str

    def predict_proba(self, images: np.ndarray, tta: bool = False) -> np.ndarray: ...


def check_min_confidence(value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1):
        raise DataError(f"min_confidence must be a number in (0, 1], got {value!r}")


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read and answered, the same for every engine, the CLI, the API and the server."""

    multi: bool = False  # a user image holds a number of several digits (one answer: `digits`, `parts`)
    tta: bool = False  # average the model over shifted views of each image
    min_confidence: float | None = None  # answers less sure than this are marked `uncertain`
    # "not a digit" below this digit-check score; None: the bundled check's default threshold; 0: no check
    reject: float | None = None

    def __post_init__(self) -> None:
        check_min_confidence(self.min_confidence)
        value = self.reject
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
            raise DataError(f"reject must be a number in [0, 1] (0: no check), got {value!r}")

    def threshold(self, part: bool = False) -> float:
        """The digit-check score below which an image (`part`: a digit of a number) is not a digit (0: none
        is); a `reject` given applies to both."""
        return default_threshold(part) if self.reject is None else float(self.reject)


PART_FIELDS = ("digit", "confidence", "top3", "not_digit", "digit_score")  # of each digit of a number


@dataclass
class Prediction:
    """What the model read in one image (or, with multi, in one image of several digits)."""

    file: str  # the input's path, or a name for an in-memory input
    digit: int | None  # None for a multi-digit answer: see `digits`
    confidence: float  # probability of `digit`; for a number, the (calibrated) probability that all of it is right
    top3: list[tuple[int, float]]  # the three likeliest digits with their probabilities
    probabilities: list[float] = field(default_factory=list)  # P(0) … P(9); empty for a multi-digit answer
    index: int | None = None  # position of the image inside a multi-image file (IDX, CSV), from 0
    uncertain: bool | None = None  # confidence below the asked minimum; None when none was asked
    digits: str | None = None  # multi: the digits read, left to right
    parts: list[Prediction] = field(default_factory=list)  # multi: one answer per digit
    # The digit check: P(the image is a digit at all), and whether it fell below the threshold (then
    # `digit` is only the guess). None when no check was made (reject=0).
    digit_score: float | None = None
    not_digit: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `predict --json`: `file`, `digit` or `digits` (+ `parts`), `confidence`, `top3`;
        `index`, `uncertain` and `not_digit` + `digit_score` only when they apply."""
        out: dict[str, Any] = {"file": self.file}
        if self.index is not None:
            out["index"] = self.index
        if self.digits is not None:
            out["digits"] = self.digits
            out["confidence"] = round(self.confidence, 6)
            out["parts"] = [{k: v for k, v in part.to_dict().items() if k in PART_FIELDS} for part in self.parts]
        else:
            out["digit"] = self.digit
            out["confidence"] = round(self.confidence, 6)
            out["top3"] = [[d, round(p, 6)] for d, p in self.top3]
        if self.uncertain is not None:
            out["uncertain"] = self.uncertain
        if self.not_digit is not None:
            out["not_digit"] = self.not_digit
            out["digit_score"] = round(float(self.digit_score or 0.0), 6)
        return out


@dataclass
class Failure:
    """An input that could not be answered, with a one-line reason that names it."""

    file: str
    error: str


def read_image(
    source: Source, predictor: ProbabilityModel, name: str | None = None, options: ReadOptions = ReadOptions()
) -> Prediction:
    """One digit in one image (file, bytes, PIL image or array of any size) → its `Prediction`;
    `DataError` naming the input when it cannot be read."""
    name = name or source_name(source, 0)
    return answers(name, judge(predictor, prepare_image(source, name), options), options)[0]


def read_mnist(
    images: np.ndarray, predictor: ProbabilityModel, name: str, options: ReadOptions = ReadOptions()
) -> list[Prediction]:
    """Digits already in MNIST format (uint8 (N, 28, 28), light ink on black) → one `Prediction` each."""
    return answers(name, judge(predictor, images, options), options, first_index=0 if len(images) > 1 else None)


def judge(predictor: ProbabilityModel, images: np.ndarray, options: ReadOptions) -> np.ndarray:
    """The model's probabilities for MNIST-format images, (N, 10); with the digit check's scores as an
    eleventh column when the options ask for the check and the predictor has one."""
    probabilities = predictor.predict_proba(images, tta=options.tta)
    check = getattr(predictor, "digit_scores", None)
    scores = check(images) if check is not None and options.threshold() > 0 else None
    return probabilities if scores is None else np.column_stack([probabilities, scores]).astype(np.float32)


def source_name(source: Source, position: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        kind = "bytes"
    elif is_stream(source):
        return str(getattr(source, "name", f"<stream #{position}>"))
    elif isinstance(source, Image.Image):
        kind = "PIL image"
    else:
        kind = "array" if isinstance(source, np.ndarray) else type(source).__name__
    return f"<{kind} #{position}>"


def is_stream(source: object) -> bool:
    """A binary file object (open(..., "rb"), io.BytesIO): one image file's bytes, read whole."""
    return callable(getattr(source, "read", None)) and not isinstance(source, Image.Image)


def file_kind(path: Path) -> str:
    """'csv' (Kaggle), 'idx' (MNIST; plain or gzip) or 'image': by name for CSV, by content otherwise."""
    if is_csv_name(path):
        return "csv"
    if not path.is_file():  # not opened: a FIFO would block; the image loader reports it in its words
        return "image"
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
    except OSError:
        return "image"
    # gzip here can only be IDX (CSV has ".csv")
    if head[:2] == GZIP_MAGIC or looks_like_idx(head):
        return "idx"
    return "image"


def decode(source: Source, name: str, multi: bool = False) -> Image.Image | np.ndarray:
    """A user image (path, bytes, file object, PIL image or array), decoded and size-checked; `multi`: a
    number written in a row, sized by its height."""
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or is_stream(source):
        return imaging.load_image(source, name=name, multi=multi)  # type: ignore[arg-type]
    if isinstance(source, (Image.Image, np.ndarray)):
        return imaging.check_image(source, name, multi)
    raise DataError(
        f"{name}: cannot read a {type(source).__name__} (give a path, bytes, a file object, a PIL image or an array)"
    )


def prepare_image(source: Source, name: str) -> np.ndarray:
    """One user image of one digit → MNIST-format uint8 (1, 28, 28); `DataError` naming `name` if unreadable."""
    image = decode(source, name)
    try:
        return imaging.to_mnist(image)[None]
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None


def prepare_line(source: Source, name: str) -> np.ndarray:
    """One user image of a number written in a row → the number reader's input, float32 (32, W)."""
    return imaging.to_line(decode(source, name, multi=True), name)


def failure(name: str, error: DigitrecError) -> Failure:
    """A failed input, its message starting with its name."""
    message = str(error) if str(error).startswith(name) else f"{name}: {error}"
    log.debug("failed: %s", message)
    return Failure(name, message)


def answers(
    file: str, judged: np.ndarray, options: ReadOptions = ReadOptions(), *, first_index: int | None = None
) -> list[Prediction]:
    """Predictions from `judge`'s rows (a model's probabilities, perhaps with digit-check scores): one per
    image of a multi-image file (IDX/CSV: images from `first_index` on), or one for a user image."""
    threshold = options.threshold() if judged.shape[1] > 10 else 0.0
    if first_index is not None:
        return [_answer(file, row, options, threshold, index=first_index + i) for i, row in enumerate(judged)]
    return [_answer(file, judged[0], options, threshold)]


def _answer(file: str, row: np.ndarray, options: ReadOptions, threshold: float, index: int | None = None) -> Prediction:
    probabilities = row[:10]
    ranked = np.argsort(-probabilities, kind="stable")[:3]
    top3 = [(int(d), float(probabilities[d])) for d in ranked]
    digit, confidence = top3[0]
    score = float(row[10]) if len(row) > 10 else None
    return Prediction(
        file,
        digit,
        confidence,
        top3,
        [float(p) for p in probabilities],
        index=index,
        uncertain=uncertain(confidence, options.min_confidence),
        digit_score=score,
        not_digit=None if score is None else score < threshold,
    )


def uncertain(confidence: float, min_confidence: float | None) -> bool | None:
    return None if min_confidence is None else confidence < min_confidence
