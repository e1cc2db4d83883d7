"""digitrec evaluate: metrics, curves, confusion matrix, worst errors and a report for a run."""

from __future__ import annotations

import argparse

from digitrec.cli._options import add_data_option, add_tta_option


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "evaluate",
        help="score a run and write metrics.json, plots and report.md",
        description="Score a run (or ensemble run) on a labelled test set or on its own "
        "validation split; writes metrics.json, curves.png, confusion.png, "
        "errors.png and report.md into the run directory.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    add_data_option(parser, default="the data the run was trained on ($DIGITREC_DATA is not consulted)")
    parser.add_argument(
        "--split",
        choices=("auto", "test", "val"),
        default="auto",
        help="test: labelled test set (MNIST t10k); val: the run's validation split; "
        "auto: test if the data has one (default)",
    )
    add_tta_option(parser)
    return parser


def run(args) -> int:
    from digitrec.data import load_dataset
    from digitrec.evaluation.report import evaluate_run

    data = load_dataset(args.data) if args.data else None
    metrics = evaluate_run(args.run_dir, data, split=args.split, tta=args.tta)
    print(
        f"{metrics['evaluated_on']}: accuracy {metrics['accuracy']:.4%} ({metrics['errors']} errors in "
        f"{metrics['count']}), loss {metrics['loss']:.4f}; report: {args.run_dir}/report.md"
    )
    return 0
