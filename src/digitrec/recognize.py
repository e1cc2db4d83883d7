"""Input files → answers: image files (one digit each, or a number of several digits with `multi`), IDX files
and Kaggle CSVs (one answer per image inside). A bad file becomes a `Failure`; the others are still answered.

Independent of the CLI: a notebook or the server can call `recognize` directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitrec import imaging
from digitrec.data.idx import GZIP_MAGIC
from digitrec.data.sources import load_images_file
from digitrec.errors import DataError

log = logging.getLogger(__name__)



@dataclass
class Answer:
    """What the model read in one image (or, with multi, in one image of several digits)."""

    file: str
    digit: int | None  # None for a multi-digit answer: see `digits`
    confidence: float  # probability of `digit`; for a multi-digit answer, that of its least certain digit
    top3: list[tuple[int, float]]  # the three likeliest digits with their probabilities
    index: int | None = None  # position of the image inside a multi-image file (IDX, CSV), from 0
    uncertain: bool | None = None  # confidence below the asked minimum; None when none was asked
    digits: str | None = None  # multi: the digits read, left to right
    parts: list[Answer] = field(default_factory=list)  # multi: one answer per digit

    def to_dict(self) -> dict:
        """The JSON form: `file`, `digit` or `digits` (+ `parts`), `confidence`, `top3`; `index` and
        `uncertain` only when they apply."""
        out: dict = {"file": self.file}
        if self.index is not None:
            out["index"] = self.index
        if self.digits is not None:
            out["digits"] = self.digits
            out["confidence"] = round(self.confidence, 6)
            out["parts"] = [{k: v for k, v in part.to_dict().items() if k in ("digit", "confidence", "top3")}
                            for part in self.parts]
        else:
            out["digit"] = self.digit
            out["confidence"] = round(self.confidence, 6)
            out["top3"] = [[d, round(p, 6)] for d, p in self.top3]
        if self.uncertain is not None:
            out["uncertain"] = self.uncertain
        return out


@dataclass
class Failure:
    """A file that could not be answered, with a one-line reason that names it."""

    file: str
    error: str


@dataclass
class _Input:
    file: str
    images: np.ndarray  # uint8 (n, 28, 28)
    indexed: bool  # IDX/CSV: one answer per image; otherwise one answer for the whole file


def recognize(paths, predictor, *, multi: bool = False, tta: bool = False,
              min_confidence: float | None = None) -> list[Answer | Failure]:
    """Answer every file in `paths`, in order; a file that fails is a `Failure` in its place."""
    inputs: list[_Input | Failure] = []
    for path in paths:
        try:
            inputs.append(_load(Path(path), multi))
        except DataError as exc:
            message = str(exc)
            if not message.startswith(str(path)):
                message = f"{path}: {message}"
            log.debug("failed: %s", message)
            inputs.append(Failure(str(path), message))
    loaded = [item for item in inputs if isinstance(item, _Input)]
    if loaded:
        probabilities = predictor.predict_proba(np.concatenate([item.images for item in loaded]), tta=tta)
    offsets = np.cumsum([0] + [len(item.images) for item in loaded])
    results: list[Answer | Failure] = []
    position = 0
    for item in inputs:
        if isinstance(item, Failure):
            results.append(item)
            continue
        probs = probabilities[offsets[position]:offsets[position + 1]]
        position += 1
        if item.indexed:
            results.extend(_answer(item.file, p, min_confidence, index=i) for i, p in enumerate(probs))
        elif multi:
            results.append(_answer_number(item.file, probs, min_confidence))
        else:
            results.append(_answer(item.file, probs[0], min_confidence))
    return results


def file_kind(path: Path) -> str:
    """'csv' (Kaggle), 'idx' (MNIST; plain or gzip) or 'image': by name for CSV, by content otherwise."""
    if ".csv" in path.suffixes:
        return "csv"
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
    except OSError:
        return "image"  # let the image loader report the missing/unreadable file in its own words
    # IDX starts with two zero bytes, which no image format does; gzip here can only be IDX (CSV has ".csv").
    if head[:2] in (GZIP_MAGIC, b"\0\0"):
        return "idx"
    return "image"


def _load(path: Path, multi: bool) -> _Input:
    kind = file_kind(path)
    if kind in ("csv", "idx"):
        images, _ = load_images_file(path)
        return _Input(str(path), images, indexed=True)
    image = imaging.load_image(path)
    if multi:
        return _Input(str(path), np.stack(imaging.segment_digits(image)), indexed=False)
    return _Input(str(path), imaging.to_mnist(image)[np.newaxis], indexed=False)


def _answer(file: str, probabilities: np.ndarray, min_confidence: float | None, index: int | None = None) -> Answer:
    ranked = np.argsort(-probabilities, kind="stable")[:3]
    top3 = [(int(d), float(probabilities[d])) for d in ranked]
    digit, confidence = top3[0]
    return Answer(file, digit, confidence, top3, index=index, uncertain=_uncertain(confidence, min_confidence))


def _answer_number(file: str, probabilities: np.ndarray, min_confidence: float | None) -> Answer:
    parts = [_answer(file, p, min_confidence, index=None) for p in probabilities]
    confidence = min(part.confidence for part in parts)
    digits = "".join(str(part.digit) for part in parts)
    return Answer(file, None, confidence, [], uncertain=_uncertain(confidence, min_confidence),
                  digits=digits, parts=parts)


def _uncertain(confidence: float, min_confidence: float | None) -> bool | None:
    return None if min_confidence is None else confidence < min_confidence
