"""digitrec submit: predict Kaggle's test.csv and write the ImageId,Label submission file."""

from __future__ import annotations

import argparse

from digitrec.cli._options import add_tta_option, nonempty_path


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "submit",
        help="write a Kaggle submission (ImageId,Label) for test.csv",
        description="Predict every row of Kaggle's test.csv[.gz] with a run's model "
        "(averaging ensemble members) and write ImageId,Label, ImageId from 1.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory, ensemble run or .keras model")
    parser.add_argument("--test", required=True, metavar="PATH", help="Kaggle test.csv or test.csv.gz")
    parser.add_argument("--output", required=True, type=nonempty_path, metavar="FILE", help="submission CSV to write")
    add_tta_option(parser)
    return parser


def run(args) -> int:
    from digitrec.data.kaggle import read_kaggle_csv, write_submission
    from digitrec.inference import load_predictor

    images, _ = read_kaggle_csv(args.test, labelled=False)
    probs = load_predictor(args.run_dir).predict_proba(images, tta=args.tta)
    path = write_submission(probs.argmax(axis=1), args.output)
    print(f"wrote {path}: {len(images)} predictions")
    return 0


def needs_backend(args) -> bool:
    from digitrec.inference import needs_keras

    return needs_keras(args.run_dir)
