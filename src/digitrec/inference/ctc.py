"""Reading a number reader's column probabilities (numpy only): the best path, its digits, a confidence
per digit and the probability of the whole number."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BLANK = 10


@dataclass(frozen=True)
class Reading:
    digits: str
    confidences: list[float]  # per digit: the highest column probability of that digit along the path
    probability: float  # of the best path: the product of its columns' probabilities (uncalibrated)
    top3: list[list[tuple[int, float]]]  # per digit: its three likeliest digits at its strongest column
    columns: list[int] = field(default_factory=list)  # per digit: its strongest column (× 4: input columns)


def greedy(columns: np.ndarray) -> Reading:
    """Best-path decoding of (T, 11) probabilities: the likeliest class per column, repeats merged, blanks
    dropped."""
    columns = np.asarray(columns, np.float64)
    if columns.ndim != 2 or columns.shape[1] != BLANK + 1:
        raise ValueError(f"expected (columns, 11) probabilities, got {columns.shape}")
    best = columns.argmax(axis=1)
    peak = columns[np.arange(len(best)), best]
    digits: list[str] = []
    confidences: list[float] = []
    top3: list[list[tuple[int, float]]] = []
    where: list[int] = []
    previous = BLANK
    for t, label in enumerate(best.tolist()):
        if label not in (BLANK, previous):  # a new digit (a repeat after a blank is a new one too)
            digits.append(str(label))
            confidences.append(float(peak[t]))
            top3.append(_top3(columns[t]))
            where.append(t)
        elif label != BLANK and peak[t] > confidences[-1]:  # the same digit, more sure in this column
            confidences[-1] = float(peak[t])
            top3[-1] = _top3(columns[t])
            where[-1] = t
        previous = label
    probability = float(np.exp(np.log(np.clip(peak, 1e-12, 1.0)).sum())) if len(peak) else 0.0
    return Reading("".join(digits), confidences, probability, top3, where)


def _top3(column: np.ndarray) -> list[tuple[int, float]]:
    digits = column[:BLANK]
    order = np.argsort(-digits, kind="stable")[:3]
    return [(int(d), float(digits[d])) for d in order]
