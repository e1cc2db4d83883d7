"""digitrec predict: read the digits in image files, IDX files or Kaggle CSVs."""

from __future__ import annotations

import argparse
import sys

from digitrec.cli._options import (
    add_model_option,
    add_reject_option,
    add_tta_option,
    model_needs_backend,
    positive_int,
    probability,
)
from digitrec.cli._output import CsvWriter, JsonWriter, Progress, TableWriter
from digitrec.errors import one_line

EPILOG = """\
inputs: image files (PNG, JPEG, BMP, GIF, WebP, TIFF; any size, dark ink on light paper or the reverse)
hold one digit each, or with --multi a number written in a row (read by the number reader: touching and
overlapping digits, ruled or squared paper and form boxes included); IDX files (MNIST format, plain or .gz)
and Kaggle CSVs (.csv, .csv.gz) hold 28x28 images and get one answer per image, with its index from 0.

output (stdout): a table; --json: one object per line {"file", "digit", "confidence", "top3": [[digit,
probability], ...]} plus "index" for images inside IDX/CSV files, "uncertain" when --min-confidence is
given, "not_digit" and "digit_score" (the digit check: true when the image does not look like a digit at
all; "digit" is then only the guess; left out with --reject 0), and with --multi "digits" and "parts"
instead of "digit" and "top3" ("confidence" is then the
calibrated probability that the whole number is right); --csv: a header, then
file,index,digit,confidence,second,second_confidence,third,third_confidence,uncertain,not_digit
(with --multi: file,index,digits,confidence,digit_confidences,uncertain,not_digit).
A file that cannot be read is reported on stderr, one line each, never on stdout, so stdout always parses;
the other files are still answered and the exit code is 1 (an IDX/CSV file failing part-way keeps the
answers before the failure; its images of one value in every pixel, empty canvases, are left unanswered
and reported in one line). Answers are printed as they come, so inputs of any size stream in constant
memory; --progress (default on a terminal) shows images/s on stderr. Answers below --min-confidence are
flagged ("?" in the table), not dropped, and do not change the exit code; so are non-digits ("not a
digit (guess 4)" in the table).
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
    parser.add_argument(
        "--reader",
        metavar="FILE",
        help="--multi: the number reader (.onnx or .keras; default: the bundled one)",
    )
    add_tta_option(parser)
    add_reject_option(parser)
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress and images/s on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default): stream through one model here; ray: spread over a Ray cluster (the [distributed] extra)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="--engine ray: N model actors, one CPU and one ONNX Runtime thread each (default 2)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="--engine ray: join the Ray cluster at ADDR (e.g. 10.0.0.5:6379 or auto); default: start a local one",
    )
    return parser


def run(args) -> int:
    from digitrec.errors import UsageError
    from digitrec.predict.reading import Failure

    if args.engine != "ray" and (args.workers is not None or args.address is not None):
        raise UsageError("--workers and --address go with --engine ray")
    if args.reader is not None and not args.multi:
        raise UsageError("--reader goes with --multi")
    from digitrec.predict.reading import ReadOptions

    options = ReadOptions(multi=args.multi, tta=args.tta, min_confidence=args.min_confidence, reject=args.reject)
    if args.engine == "ray":
        from digitrec.predict.ray import iter_recognize_ray

        results = iter_recognize_ray(
            args.files,
            args.model,
            workers=args.workers or 2,
            address=args.address,
            options=options,
            reader=args.reader,
        )
    else:
        from digitrec.inference import load_predictor
        from digitrec.inference.reader import load_reader
        from digitrec.predict import iter_recognize

        reader = load_reader(args.reader) if args.multi else None
        results = iter_recognize(args.files, load_predictor(args.model), options, reader=reader)
    if args.json:
        writer: JsonWriter | CsvWriter | TableWriter = JsonWriter(sys.stdout)
    elif args.csv:
        writer = CsvWriter(sys.stdout, args.multi)
    else:
        writer = TableWriter(sys.stdout, args.files, args.multi)
    progress = Progress(True if args.progress else None)
    failures = 0
    for result in results:
        if isinstance(result, Failure):
            failures += 1
            progress.clear()
            print(f"digitrec: error: {one_line(result.error)}", file=sys.stderr, flush=True)
        else:
            writer.write(result)
            progress.add()
    sys.stdout.flush()
    progress.done()
    return 1 if failures else 0


def needs_backend(args) -> bool:
    """Only the local engine loads the model in this process (Ray workers load their own)."""
    return args.engine == "local" and model_needs_backend(args)
