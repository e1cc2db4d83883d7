"""Option helpers shared by several subcommands."""

from __future__ import annotations

import argparse


def add_data_option(parser: argparse.ArgumentParser, help_suffix: str = "") -> None:
    parser.add_argument(
        "--data", metavar="SPEC",
        help="mnist (download into the cache), mnist:DIR (IDX files) or kaggle:DIR (train.csv[.gz]); "
             "default: $DIGITREC_DATA, else mnist" + help_suffix,
    )
