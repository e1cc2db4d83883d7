"""Streaming output of `digitrec predict`: answers are written as they come (table, JSON lines or CSV), and
a progress line on stderr when it is a terminal, so that a million images print in constant memory."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

_FLAG = {None: "", True: "true", False: "false"}
_INDEX_WIDTH = len("[9999999]")


class TableWriter:
    """FILE, DIGIT, CONFIDENCE, TOP-3 in columns whose widths come from the inputs' names (not from the
    answers, which are not all known when the first is printed)."""

    def __init__(self, stream: IO[str], names: Sequence[str], multi: bool):
        self.stream = stream
        self.widths = [max([4, *(len(name) + _INDEX_WIDTH for name in names)]), 12 if multi else 5, 10]
        self.header_written = False

    def write(self, answer: Any) -> None:
        if not self.header_written:
            self._row("FILE", "DIGIT", "CONFIDENCE", "TOP-3")
            self.header_written = True
        label = answer.file if answer.index is None else f"{answer.file}[{answer.index}]"
        read = (answer.digits if answer.digits is not None else str(answer.digit)) + ("?" if answer.uncertain else "")
        if answer.not_digit:
            read = (
                f"not a number ({answer.digits})"
                if answer.digits is not None
                else f"not a digit (guess {answer.digit})"
            )
        if answer.digits is not None:
            details = "per digit: " + " ".join(f"{part.confidence:.3f}" for part in answer.parts)
            flagged = [str(i + 1) for i, part in enumerate(answer.parts) if part.not_digit]
            if flagged and not answer.not_digit:
                details += f"; not a digit at position {', '.join(flagged)}"
        else:
            details = ", ".join(f"{digit} {p:.3f}" for digit, p in answer.top3)
        self._row(label, read, f"{answer.confidence:.3f}", details)

    def _row(self, *cells: str) -> None:
        self.stream.write(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, self.widths)) + "  " + cells[3] + "\n"
        )


class JsonWriter:
    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, answer: Any) -> None:
        self.stream.write(json.dumps(answer.to_dict()) + "\n")


class CsvWriter:
    """Single digits: file,index,digit,confidence,second,second_confidence,third,third_confidence,uncertain,
    not_digit. With --multi: file,index,digits,confidence,digit_confidences,uncertain,not_digit (not_digit:
    no position is a digit; a single digit is a 1-digit
    number there). Empty cells: no index (a plain image file), no --min-confidence, no digit check
    (--reject 0)."""

    SINGLE = (
        "file",
        "index",
        "digit",
        "confidence",
        "second",
        "second_confidence",
        "third",
        "third_confidence",
        "uncertain",
        "not_digit",
    )
    MULTI = ("file", "index", "digits", "confidence", "digit_confidences", "uncertain", "not_digit")

    def __init__(self, stream: IO[str], multi: bool):
        self.writer = csv.writer(stream, lineterminator="\n")
        self.multi = multi
        self.writer.writerow(self.MULTI if multi else self.SINGLE)

    def write(self, a: Any) -> None:
        index = "" if a.index is None else a.index
        if self.multi:
            parts = a.parts or [a]
            self.writer.writerow(
                [
                    a.file,
                    index,
                    a.digits or str(a.digit),
                    f"{a.confidence:.6f}",
                    " ".join(f"{p.confidence:.6f}" for p in parts),
                    _FLAG[a.uncertain],
                    _FLAG[a.not_digit],
                ]
            )
        else:
            ranked = [cell for digit, p in a.top3[1:3] for cell in (digit, f"{p:.6f}")]
            flags = [_FLAG[a.uncertain], _FLAG[a.not_digit]]
            self.writer.writerow([a.file, index, a.digit, f"{a.confidence:.6f}", *ranked, *flags])


class Progress:
    """`N images, R/s` on stderr, redrawn at most 5 times a second, and a summary line at the end; silent
    unless enabled (by default: when stderr is a terminal)."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.count, self.start, self.shown = 0, time.perf_counter(), 0.0

    def add(self, count: int = 1) -> None:
        self.count += count
        now = time.perf_counter()
        if self.enabled and now - self.shown > 0.2:
            self.shown = now
            sys.stderr.write(f"\r{self.count:,} images, {self.count / max(now - self.start, 1e-9):,.0f}/s")
            sys.stderr.flush()

    def clear(self) -> None:
        """Before another line goes to stderr."""
        if self.enabled and self.shown:
            sys.stderr.write("\r\033[K")

    def done(self) -> None:
        if self.enabled:
            seconds = time.perf_counter() - self.start
            self.clear()
            sys.stderr.write(
                f"digitrec: {self.count:,} images in {seconds:.1f} s "
                f"({self.count / max(seconds, 1e-9):,.0f} images/s)\n"
            )
