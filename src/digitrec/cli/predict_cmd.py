"""digitrec predict: read the digits in image files, IDX files or Kaggle CSVs."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from digitrec.cli._options import add_model_option, add_tta_option, model_needs_backend, probability

EPILOG = """\
inputs: image files (PNG, JPEG, BMP, GIF, WebP, TIFF; any size, dark ink on light paper or the reverse)
hold one digit each, or with --multi a number written left to right; IDX files (MNIST format, plain or .gz)
and Kaggle CSVs (.csv, .csv.gz) hold 28x28 images and get one answer per image, with its index from 0.

output (stdout): a table; --json: one object per line {"file", "digit", "confidence", "top3": [[digit,
probability], ...]} plus "index" for images inside IDX/CSV files, "uncertain" when --min-confidence is
given, and with --multi "digits" and "parts" instead of "digit" and "top3"; --csv: a header, then
file,index,digit,confidence,second,second_confidence,third,third_confidence,uncertain
(with --multi: file,index,digits,confidence,digit_confidences,uncertain).
A file that cannot be read is reported on stderr, one line each, never on stdout, so stdout always parses;
the other files are still answered and the exit code is 1. Answers below --min-confidence are flagged
("?" in the table), not dropped, and do not change the exit code.
"""


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "predict",
        help="read the digits in images, IDX files or Kaggle CSVs",
        description="Read handwritten digits in image files (prepared like MNIST: "
        "grey, ink bright, cropped, fitted to 20x20, centred) or in IDX/CSV "
        "files, and print each with its confidence and top-3.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="image, IDX or Kaggle CSV files")
    add_model_option(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object per line")
    output.add_argument("--csv", action="store_true", help="CSV with a header line")
    parser.add_argument(
        "--min-confidence", type=probability, metavar="P", help="flag answers whose confidence is below P, in (0, 1]"
    )
    parser.add_argument(
        "--multi", action="store_true", help="image files hold several digits side by side: read them as one number"
    )
    add_tta_option(parser)
    return parser


def run(args) -> int:
    from digitrec.inference import load_predictor
    from digitrec.recognize import Failure, recognize

    predictor = load_predictor(args.model)
    results = recognize(args.files, predictor, multi=args.multi, tta=args.tta, min_confidence=args.min_confidence)
    answers = [r for r in results if not isinstance(r, Failure)]
    failures = [r for r in results if isinstance(r, Failure)]
    for failure in failures:
        print(f"digitrec: error: {failure.error}", file=sys.stderr)
    if args.json:
        for answer in answers:
            print(json.dumps(answer.to_dict()))
    elif args.csv:
        write_csv(answers, sys.stdout, multi=args.multi)
    elif answers:
        print(format_table(answers))
    return 1 if failures else 0


def _label(answer) -> str:
    return answer.file if answer.index is None else f"{answer.file}[{answer.index}]"


def _read(answer) -> str:
    return (answer.digits if answer.digits is not None else str(answer.digit)) + ("?" if answer.uncertain else "")


def _details(answer) -> str:
    if answer.digits is not None:
        return "per digit: " + " ".join(f"{part.confidence:.3f}" for part in answer.parts)
    return ", ".join(f"{digit} {p:.3f}" for digit, p in answer.top3)


def format_table(answers) -> str:
    rows = [("FILE", "DIGIT", "CONFIDENCE", "TOP-3")]
    rows += [(_label(a), _read(a), f"{a.confidence:.3f}", _details(a)) for a in answers]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows
    )


def write_csv(answers, stream, multi: bool = False) -> None:
    """Single digits: file,index,digit,confidence,second,second_confidence,third,third_confidence,uncertain.
    With --multi: file,index,digits,confidence,digit_confidences,uncertain (a single digit is a 1-digit
    number there). Empty cells: no index (a plain image file), no --min-confidence."""
    writer = csv.writer(stream, lineterminator="\n")
    flag = {None: "", True: "true", False: "false"}
    if multi:
        writer.writerow(["file", "index", "digits", "confidence", "digit_confidences", "uncertain"])
        for a in answers:
            parts = a.parts or [a]
            writer.writerow(
                [
                    a.file,
                    "" if a.index is None else a.index,
                    a.digits or str(a.digit),
                    f"{a.confidence:.6f}",
                    " ".join(f"{p.confidence:.6f}" for p in parts),
                    flag[a.uncertain],
                ]
            )
        return
    writer.writerow(
        [
            "file",
            "index",
            "digit",
            "confidence",
            "second",
            "second_confidence",
            "third",
            "third_confidence",
            "uncertain",
        ]
    )
    for a in answers:
        ranked = [cell for digit, p in a.top3[1:3] for cell in (digit, f"{p:.6f}")]
        writer.writerow(
            [a.file, "" if a.index is None else a.index, a.digit, f"{a.confidence:.6f}", *ranked, flag[a.uncertain]]
        )


needs_backend = model_needs_backend
