"""Numbers written in a row → answers: the number reader's reading (`inference.reader`) and, unless
rejection is off, the digit check on each digit it read, so that a line of letters or a sign among the
digits is said to be no digit.

Each digit's piece of the line runs from halfway to its left neighbour's strongest column to halfway to
its right neighbour's; the piece's ink is fitted into 28×28 as a single digit's is, and the digit check
scores it as it scores single images.
"""

from __future__ import annotations

import numpy as np

from digitrec.imaging.line import digit_pieces
from digitrec.inference.ctc import Reading
from digitrec.inference.reader import STRIDE, NumberReader
from digitrec.predict.reading import (
    Prediction,
    ProbabilityModel,
    ReadOptions,
    Source,
    prepare_line,
    source_name,
    uncertain,
)


def read_line(
    source: Source,
    reader: NumberReader,
    name: str | None = None,
    predictor: ProbabilityModel | None = None,
    options: ReadOptions = ReadOptions(),
) -> Prediction:
    """One number written in a row (file, bytes, PIL image or array) → its `Prediction` (`digits`), each
    digit checked by `predictor`'s digit check unless `options` turn it off."""
    name = name or source_name(source, 0)
    line = prepare_line(source, name)
    reading = reader.read([line])[0]
    return number_answer(name, reading, options, part_scores(line, reading, predictor, options))


def part_scores(
    line: np.ndarray, reading: Reading, predictor: ProbabilityModel | None, options: ReadOptions
) -> list[float] | None:
    """The digit check's score for each digit read in `line` (float32 (32, W)); None when there is no
    check to make (rejection off, no predictor or no check, or nothing read)."""
    check = getattr(predictor, "digit_scores", None)
    if check is None or options.threshold(part=True) <= 0 or not reading.digits:
        return None
    if len(reading.columns) != len(reading.digits):  # a reading without positions (made by hand)
        return None
    pieces, inked = digit_pieces(line, [(column + 0.5) * STRIDE for column in reading.columns])
    scores = check(pieces)
    if scores is None:
        return None
    return [float(s) if ink else 0.0 for s, ink in zip(scores, inked)]


def number_answer(
    file: str, reading: Reading, options: ReadOptions = ReadOptions(), scores: list[float] | None = None
) -> Prediction:
    """The number reader's reading of one image: `digits`, the whole number's calibrated probability as
    `confidence`, and a part per digit (its confidence and top three; with `scores`, whether it is a digit
    at all). The number itself is `not_digit` when most of its parts are not digits."""
    threshold = options.threshold(part=True)
    parts = []
    for i, (digit, confidence, top3) in enumerate(zip(reading.digits, reading.confidences, reading.top3)):
        score = None if scores is None else scores[i]
        rejected = None if score is None else score < threshold
        parts.append(Prediction(file, int(digit), confidence, top3, digit_score=score, not_digit=rejected))
    # Most of its parts: a line of letters has a piece or two that pass for digits, a number rarely more
    # than one that does not (benchmarks/not_digits.py).
    rejected_all = None if scores is None else sum(bool(part.not_digit) for part in parts) > len(parts) / 2
    return Prediction(
        file,
        None,
        reading.probability,
        [],
        uncertain=uncertain(reading.probability, options.min_confidence),
        digits=reading.digits,
        parts=parts,
        digit_score=None if scores is None else min(scores),
        not_digit=rejected_all,
    )
