"""Long numbers read with `read_number` (`predict --multi`): how many of `--trials` numbers of each length
come back exactly right, made of random MNIST test digits rendered as a photo of a written number
(`tests/renderings.number_image`: digits side by side, black on grey paper, noise), and the time per number.

    python benchmarks/long_numbers.py [--lengths 4,8,12,16,24] [--trials 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np

import digitrec
from digitrec.data import load_dataset

from _common import command, data_spec, write_result
from renderings import number_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="4,8,12,16,24")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="long_numbers")
    args = parser.parse_args()
    data = load_dataset(data_spec("mnist"))
    rec = digitrec.load()
    rng = np.random.default_rng(args.seed)
    rows = []
    for length in (int(n) for n in args.lengths.split(",")):
        right = refused = 0
        seconds = 0.0
        for _ in range(args.trials):
            picks = rng.choice(len(data.x_test), length, replace=False)
            image = number_image(list(data.x_test[picks]), rng)
            start = time.perf_counter()
            try:
                answer = rec.read_number(image).digits
            except digitrec.DataError:
                refused += 1
                answer = None
            seconds += time.perf_counter() - start
            right += answer == "".join(map(str, data.y_test[picks]))
        row = {"digits": length, "trials": args.trials, "right": right, "refused": refused}
        row["seconds_per_number"] = round(seconds / args.trials, 4)
        rows.append(row)
        print(f"{length:3d} digits: {right}/{args.trials} right, {refused} refused, {row['seconds_per_number']} s each")
    write_result(
        args.name,
        {
            "command": command(),
            "data": "MNIST t10k digits, rendered as numbers (tests/renderings.number_image)",
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
