"""Numbers as people write them: how many come back exactly right, per kind of writing, and how fast.

Lines are composed by `digitrec.data.lines` from MNIST *test* digits (writers no reader trained on) and
from typeset digits (matplotlib's fonts), in every kind: spaced, tight, touching, overlapping, ruled,
squared, boxed, slanted (1–10 digits) and long (20 digits). The validation half uses t10k images 0–4,999,
the test half 5,000–9,999: tune on `--half val` only. Each line is encoded as a PNG or JPEG photo and read
through the public API, as a user's file would be.

    python benchmarks/read_numbers.py [--half val|test] [--per-kind 100] [--seed 0] [--readers segmenter,reader]

Reports per reader, source and kind: whole numbers exactly right (all lengths, and lengths ≤ 8), digits
right (1 − edit distance / length), numbers refused, and milliseconds per number.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from PIL import Image

import digitrec
from digitrec import imaging
from digitrec.data import load_dataset
from digitrec.data.lines import KINDS, compose

from _common import command, data_spec, machine, write_result
from digit_sources import FONT_FILES, _glyph

HALVES = {"val": slice(0, 5000), "test": slice(5000, 10000)}
LONG = 20


def font_pool() -> tuple[np.ndarray, np.ndarray]:
    """Typeset digits in MNIST form: 14 fonts × 10 digits, at one size, upright."""
    images, labels = [], []
    for font in FONT_FILES:
        for digit in range(10):
            images.append(imaging.to_mnist(Image.open(io.BytesIO(_glyph(str(digit), font, 48, 0)))))
            labels.append(digit)
    return np.stack(images), np.array(labels)


def encoded(image: np.ndarray, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    if rng.random() < 0.3:
        Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(60, 95)))
    else:
        Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def segmenter() -> Callable[[bytes], tuple[str, float]]:
    """Connected blobs of ink, each read by the bundled digit classifier (`imaging.segment_digits`)."""
    recognizer = digitrec.load(threads=1)

    def read(data: bytes) -> tuple[str, float]:
        image = imaging.load_image(data, multi=True)
        probabilities = recognizer.predict_proba(np.stack(imaging.segment_digits(image)))
        return "".join(str(d) for d in probabilities.argmax(axis=1)), float(probabilities.max(axis=1).min())

    return read


def reader(path: str | None = None) -> Callable[[bytes], tuple[str, float]]:
    """The number reader (`read_number`), over the whole line: the bundled one, or `path`."""
    recognizer = digitrec.load(reader=path, threads=1)

    def read(data: bytes) -> tuple[str, float]:
        answer = recognizer.read_number(data)
        return answer.digits or "", answer.confidence

    return read


READERS: dict[str, Callable[[], Callable[[bytes], tuple[str, float]]]] = {"segmenter": segmenter, "reader": reader}


def calibration_error(confidence: list[float], right: list[bool], bins: int = 15) -> float:
    """Expected calibration error of the whole-number confidence (equal-width bins)."""
    conf, hit = np.array(confidence), np.array(right, float)
    which = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    return float(sum(abs(conf[which == b].mean() - hit[which == b].mean()) * (which == b).mean() for b in set(which)))


def lines_of(pool: tuple[np.ndarray, np.ndarray], per_kind: int, rng: np.random.Generator):
    digits, labels = pool
    for kind in KINDS:
        for _ in range(per_kind):
            length = LONG if kind == "long" else int(rng.integers(1, 11))
            picks = rng.integers(0, len(digits), length)
            line = compose(digits[picks], labels[picks], kind, rng)
            yield kind, line.label, encoded(line.image, rng)


def score(read: Callable[[bytes], tuple[str, float]], cases: list[tuple[str, str, bytes]]) -> dict[str, dict]:
    by_kind: dict[str, dict] = {}
    confidences: list[float] = []
    hits: list[bool] = []
    for kind, truth, data in cases:
        start = time.perf_counter()
        try:
            answer: str | None
            answer, confidence = read(data)
        except digitrec.DataError:
            answer, confidence = None, 0.0
        confidences.append(confidence)
        hits.append(answer == truth)
        seconds = time.perf_counter() - start
        row = by_kind.setdefault(kind, {"numbers": 0, "exact": 0, "short": 0, "short_exact": 0, "digits": 0.0})
        row.setdefault("ms", []).append(seconds * 1000)
        row["numbers"] += 1
        row["exact"] += answer == truth
        row["refused"] = row.get("refused", 0) + (answer is None)
        row["digits"] += max(0.0, 1 - edit_distance(answer or "", truth) / len(truth))
        if len(truth) <= 8:
            row["short"] += 1
            row["short_exact"] += answer == truth
    for row in by_kind.values():
        ms = row.pop("ms")
        row["exact_rate"] = round(row["exact"] / row["numbers"], 4)
        row["exact_rate_le8"] = round(row["short_exact"] / row["short"], 4) if row["short"] else None
        row["digit_accuracy"] = round(row["digits"] / row["numbers"], 4)
        row["ms_median"], row["ms_mean"] = round(float(np.median(ms)), 2), round(float(np.mean(ms)), 2)
        del row["digits"]
    by_kind["all"] = {
        "numbers": len(hits),
        "exact_rate": round(float(np.mean(hits)), 4),
        "calibration_error": round(calibration_error(confidences, hits), 4),
    }
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=sorted(HALVES), default="val")
    parser.add_argument("--per-kind", type=int, default=100, help="numbers per kind and source")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", default="segmenter,reader", help=f"comma-separated: {', '.join(READERS)}")
    parser.add_argument("--reader-model", default=None, help="the number reader to measure (default: the bundled one)")
    parser.add_argument("--name", default=None, help="the JSON's name (default: numbers_HALF)")
    args = parser.parse_args()
    data = load_dataset(data_spec("mnist"), with_test=True)
    part = HALVES[args.half]
    pools = {"mnist": (data.x_test[part], data.y_test[part]), "fonts": font_pool()}
    rng = np.random.default_rng(args.seed)
    cases = {source: list(lines_of(pool, args.per_kind, rng)) for source, pool in pools.items()}
    results: dict[str, dict] = {}
    for name in args.readers.split(","):
        read = reader(args.reader_model) if name == "reader" else READERS[name]()
        results[name] = {source: score(read, found) for source, found in cases.items()}
        for source, kinds in results[name].items():
            for kind, row in kinds.items():
                if kind == "all":
                    print(
                        f"{name:10s} {source:6s} all: exact {row['exact_rate']:.2%}, ECE {row['calibration_error']:.4f}"
                    )
                    continue
                print(
                    f"{name:10s} {source:6s} {kind:12s} exact {row['exact_rate']:7.2%}  ≤8 digits "
                    f"{(row['exact_rate_le8'] or 0):7.2%}  digits {row['digit_accuracy']:7.2%}  "
                    f"{row['ms_median']:6.1f} ms"
                )
    write_result(
        args.name or f"numbers_{args.half}",
        {
            "command": command(),
            "machine": machine(),
            "half": args.half,
            "data": f"MNIST t10k {part.start}–{part.stop - 1} and typeset digits, composed by digitrec.data.lines",
            "per_kind": args.per_kind,
            "seed": args.seed,
            "readers": results,
        },
    )


if __name__ == "__main__":
    main()
