"""How training batches are fed: numpy arrays handed to `model.fit` vs digitrec's tf.data pipeline
(`digitrec.training.feed`), on the `fast` recipe, one epoch of MNIST train each, several fresh models per feed.

Reports each epoch's wall time and the CPU cores the process kept busy (CPU time ÷ wall time): on a 2-core
machine the array feed sometimes runs at ~1.1 cores, which is why digitrec uses the pipeline.

    python benchmarks/input_pipeline.py [--repeats 3] [--preset fast]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras

from digitrec import training
from digitrec.data import (
    load_dataset,
    prepare,
)
from digitrec.data.prepare import normalize, one_hot
from digitrec.training import recipes
from digitrec.training.feed import fit_arguments

from _common import command, data_spec, write_result

FEEDS = {
    "numpy_arrays": lambda x, y, batch: {"x": x, "y": y, "batch_size": batch, "shuffle": True},
    "tf_data_pipeline": lambda x, y, batch: fit_arguments((x, y), None, batch, seed=0),
}


def one_epoch(recipe, x, y, feed: str) -> dict:
    keras.utils.set_random_seed(0)
    model = training.build_model(recipe, -(-len(x) // recipe.batch_size))
    model.fit(
        **FEEDS[feed](x[: 20 * recipe.batch_size], y[: 20 * recipe.batch_size], recipe.batch_size), epochs=1, verbose=0
    )  # tracing and warm-up, off the clock
    cpu, wall = sum(os.times()[:2]), time.perf_counter()
    model.fit(**FEEDS[feed](x, y, recipe.batch_size), epochs=1, verbose=0)
    wall = time.perf_counter() - wall
    return {
        "feed": feed,
        "epoch_seconds": round(wall, 2),
        "images_per_second": round(len(x) / wall),
        "cores_busy": round((sum(os.times()[:2]) - cpu) / wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()
    recipe = recipes.get(args.preset)
    mnist = load_dataset(data_spec("mnist"))
    x_tr, _, y_tr, _ = prepare.split(mnist.x_train, mnist.y_train, recipe.val_fraction, 0)
    x, y = normalize(x_tr), one_hot(y_tr)
    rows = []
    for _ in range(args.repeats):  # interleaved, so a slow patch of the machine hits both feeds
        for feed in FEEDS:
            rows.append(one_epoch(recipe, x, y, feed))
            print(
                f"{feed:18s} {rows[-1]['epoch_seconds']:6.1f} s/epoch  {rows[-1]['images_per_second']:5d} img/s  "
                f"{rows[-1]['cores_busy']:.2f} cores busy",
                flush=True,
            )
    summary = {
        feed: {
            "median_epoch_seconds": statistics.median(r["epoch_seconds"] for r in rows if r["feed"] == feed),
            "worst_epoch_seconds": max(r["epoch_seconds"] for r in rows if r["feed"] == feed),
        }
        for feed in FEEDS
    }
    ratio = summary["numpy_arrays"]["median_epoch_seconds"] / summary["tf_data_pipeline"]["median_epoch_seconds"]
    print(
        f"median epoch: arrays {summary['numpy_arrays']['median_epoch_seconds']:.1f} s, pipeline "
        f"{summary['tf_data_pipeline']['median_epoch_seconds']:.1f} s (×{ratio:.2f})"
    )
    write_result(
        "input_pipeline",
        {
            "command": command(),
            "data": "MNIST train split (54,000 images), one epoch per fresh model",
            "recipe": recipe.to_dict(),
            "rows": rows,
            "summary": summary,
            "arrays_over_pipeline_median": round(ratio, 2),
        },
    )


if __name__ == "__main__":
    main()
