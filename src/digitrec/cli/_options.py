"""Option helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def ranged(convert: Callable[[str], float], accept: Callable[[float], bool], requirement: str):
    """An argparse type: `convert` the text, then require `accept(value)`; failures are usage errors (exit 2)."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not accept(value):  # NaN fails every comparison, so it is rejected here too
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    return parse


positive_int = ranged(int, lambda v: v >= 1, "at least 1")
probability = ranged(float, lambda v: 0 < v <= 1, "in (0, 1]")
unit_interval = ranged(float, lambda v: 0 <= v <= 1, "in [0, 1]")
port_number = ranged(int, lambda v: 0 <= v <= 65535, "0–65535 (0: any free port)")


def add_data_option(
    parser: argparse.ArgumentParser, use: str = "", default: str = "$DIGITREC_DATA, else mnist"
) -> None:
    parser.add_argument(
        "--data",
        metavar="SPEC",
        help=f"{use}mnist (download into the cache), mnist:DIR (IDX files) or kaggle:DIR (train.csv[.gz]); "
        f"default: {default}",
    )


def nonempty_path(text: str, hint: str = "") -> str:
    if not text:
        raise argparse.ArgumentTypeError(f"empty path{hint}")
    return text


def model_path(text: str) -> str:
    return nonempty_path(text, " (leave the option out for the bundled model)")


def add_model_option(parser: argparse.ArgumentParser, flag: str = "--model") -> None:
    parser.add_argument(
        flag,
        metavar="MODEL",
        type=model_path,
        default=None,
        help=".keras or .onnx file, run directory or ensemble run directory (default: the bundled model)",
    )


def add_tta_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tta", action="store_true", help="average predictions over shifted views")


def add_reject_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reject",
        type=unit_interval,
        metavar="T",
        help="answer 'not a digit' for images whose digit-check score is below T, in [0, 1] (default: the bundled "
        "check's threshold, which keeps 99%% of real digits; 0: no check)",
    )


def model_needs_backend(args: argparse.Namespace) -> bool:
    """For commands with --model: an .onnx model (the bundled one by default) runs on ONNX Runtime, so
    TensorFlow need not start."""
    from digitrec.inference import needs_keras

    return needs_keras(args.model)
