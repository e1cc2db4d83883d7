"""digitrec train: fit a preset recipe and write a run directory (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from digitrec.cli._options import add_data_option, positive_int, ranged
from digitrec.rundir import MEMBERS, SEEDS

seed_value = ranged(int, lambda v: v in SEEDS, "between 0 and 2^31 - 1")
member_count = ranged(int, lambda v: v in MEMBERS, f"between 1 and {MEMBERS[-1]}")
# What a new run is made of; a resumed run keeps what config.json recorded.
RECIPE_FLAGS = ("--preset", "--epochs", "--batch-size", "--limit", "--seed", "--ensemble", "--distribute", "--devices")


def add_parser(sub) -> argparse.ArgumentParser:
    from digitrec.training.recipes import PRESETS

    parser = sub.add_parser(
        "train",
        help="train a model (a preset recipe) into a run directory",
        description="Train a preset recipe. Writes config.json, history.csv, a checkpoint "
        "after every epoch and model.keras at the end. Kill it any time and "
        "continue with --resume RUN_DIR.",
    )
    add_data_option(parser)
    parser.add_argument(
        "--preset",
        type=_recipe_name,
        metavar="NAME|FILE.json",
        help=f"a preset ({', '.join(PRESETS)}; default fast) or a recipe JSON file, e.g. a run's config.json",
    )
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's epoch count")
    parser.add_argument("--batch-size", type=positive_int, help="override the recipe's batch size")
    parser.add_argument("--limit", type=positive_int, help="use only the first N training images")
    parser.add_argument("--seed", type=seed_value, help="random seed, 0 to 2^31 - 1 (default 0)")
    parser.add_argument(
        "--ensemble",
        type=member_count,
        metavar="K",
        help="train K members with seeds seed…seed+K-1; predictions average them",
    )
    parser.add_argument(
        "--distribute",
        choices=("none", "mirrored", "multiworker"),
        help="(default none) mirrored: one model over several devices of this machine (GPUs, else CPU devices); "
        "multiworker: over several processes or machines, configured by the KERAS_DISTRIBUTION_* variables "
        "(docs/scaling.md)",
    )
    parser.add_argument(
        "--devices",
        type=positive_int,
        metavar="N",
        help="--distribute mirrored: how many devices (default: every GPU, else 2 CPU devices)",
    )
    parser.add_argument(
        "--number-reader",
        action="store_true",
        help="train the number reader (--multi) instead of a digit classifier, on lines composed from the data's "
        "training digits; --epochs, --limit (lines) and --seed apply (docs/training.md)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", metavar="RUN_DIR", help="new run directory")
    target.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last finished epoch")
    return parser


def _recipe_name(text: str) -> str:
    from digitrec.training.recipes import PRESETS

    if text not in PRESETS and not text.endswith(".json"):
        raise argparse.ArgumentTypeError(f"{text!r} is neither a preset ({', '.join(PRESETS)}) nor a .json file")
    return text


def run(args) -> int:
    """Everything that can be wrong is checked before the backend starts (a bad recipe, too little data, an
    unwritable or taken directory, damaged run files: one line, no TensorFlow start-up)."""
    from digitrec.cli._backend import start_backend_quietly
    from digitrec.data import load_dataset
    from digitrec.errors import UsageError
    from digitrec.runtime.provenance import check_keras_backend
    from digitrec.training import plan
    from digitrec.training import reader as number_reader

    check_keras_backend()  # before anything is written
    if args.number_reader or (args.resume and number_reader.is_reader_run(args.resume)):
        return _train_reader(args, number_reader)
    fresh = False
    if args.resume:
        given = [flag for flag in RECIPE_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
        if given:
            raise UsageError(
                f"--resume continues a run as it was started: {', '.join(given)} cannot change it "
                "(train a new --out instead)"
            )
        run_, config = plan.resumable(args.resume)
        data = load_dataset(args.data or config["data"], with_test=False)
    else:
        if args.devices is not None and args.distribute != "mirrored":
            raise UsageError("--devices goes with --distribute mirrored (multiworker: one process per device)")
        run_, data, fresh = plan.plan_run(
            args.preset or "fast",
            args.data,
            args.out,
            changes={"epochs": args.epochs, "batch_size": args.batch_size},
            seed=args.seed or 0,
            limit=args.limit,
            members=args.ensemble or 1,
            distribute=args.distribute or "none",
            devices=args.devices,
        )
    start_backend_quietly()
    from digitrec.training import complete, start

    if args.resume:
        complete(run_, data)
    else:
        start(run_, data, fresh)
    requested = Path(args.resume or args.out)
    if run_.path != requested:  # a multiworker process other than the chief: its copy is discarded
        print(f"worker done; the chief wrote {requested}")
    else:
        print(f"{'finished' if args.resume else 'trained'} {run_.path}")
    return 0


def _train_reader(args, number_reader) -> int:
    from digitrec.cli._backend import start_backend_quietly
    from digitrec.errors import UsageError

    if args.resume:
        given = [flag for flag in ("--epochs", "--limit", "--seed", "--data") if getattr(args, flag[2:]) is not None]
        if given:
            raise UsageError(f"--resume continues a run as it was started: {', '.join(given)} cannot change it")
        start_backend_quietly()
        print(f"finished {number_reader.complete(args.resume)}")
        return 0
    others = [f for f in ("--preset", "--batch-size", "--ensemble", "--distribute", "--devices") if _given(args, f)]
    if others:
        raise UsageError(f"{', '.join(others)} {'does' if len(others) == 1 else 'do'} not apply to --number-reader")
    start_backend_quietly()
    out = number_reader.start(args.out, epochs=args.epochs, lines=args.limit, seed=args.seed, data=args.data)
    print(f"trained {out}")
    return 0


def _given(args, flag: str) -> bool:
    return getattr(args, flag[2:].replace("-", "_")) is not None


def needs_backend(args) -> bool:
    return False  # run() starts it once the run is checked
