"""Training and inference throughput and peak memory of each preset, on this machine.

Each preset runs in its own child process (so its peak RSS is its own): one training epoch on MNIST
train (54,000 images; images/s timed from the 10th batch on, after tracing), then inference on the
10,000 MNIST test images at batch 1000 (best of 3 passes, after a warm-up pass).

    python benchmarks/throughput.py [--presets seed,fast,best] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from _common import command, data_spec, peak_rss_mib, write_result

WARMUP_BATCHES = 10


def child(preset: str, limit: int | None) -> dict:
    import keras

    from digitrec import training
    from digitrec.data import load_dataset, prepare
    from digitrec.data.prepare import normalize, one_hot
    from digitrec.inference import Predictor
    from digitrec.inference.keras_model import KerasModel
    from digitrec.training import recipes
    from digitrec.training.feed import fit_arguments

    class BatchClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == WARMUP_BATCHES - 1:
                self.start, self.first = time.perf_counter(), batch + 1

        def on_epoch_end(self, epoch, logs=None):
            self.batches = self.params["steps"] - self.first
            self.seconds = time.perf_counter() - self.start

    data = load_dataset(data_spec("mnist"))
    recipe = recipes.get(preset).replace(epochs=1)
    x_tr, _, y_tr, _ = prepare.split(data.x_train, data.y_train, recipe.val_fraction, 0, limit)
    keras.utils.set_random_seed(0)
    steps = -(-len(x_tr) // recipe.batch_size)
    model = training.build_model(recipe, steps)
    clock = BatchClock()
    model.fit(
        **fit_arguments((normalize(x_tr), one_hot(y_tr)), None, recipe.batch_size, 0),
        epochs=1,
        verbose=0,
        callbacks=[clock],
    )  # fed as digitrec.train feeds it
    train_ips = clock.batches * recipe.batch_size / clock.seconds

    predictor = Predictor([KerasModel(model)], preset)
    predictor.predict_proba(data.x_test[:1000])
    best = min(_timed(lambda: predictor.predict_proba(data.x_test, batch_size=1000)) for _ in range(3))
    return {
        "preset": preset,
        "model": recipe.model,
        "params": model.count_params(),
        "precision": recipe.precision,
        "train_batch_size": recipe.batch_size,
        "train_images_per_second": round(train_ips),
        "epoch_seconds_estimate": round(len(x_tr) / train_ips, 1),
        "inference_images_per_second_b1000": round(len(data.x_test) / best),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="seed,fast,best")
    parser.add_argument("--quick", action="store_true", help="train on 10,000 images instead of 54,000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.limit)))
        return
    rows = []
    for preset in args.presets.split(","):
        cmd = [sys.executable, __file__, "--child", preset] + (["--limit", "11112"] if args.quick else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{preset:6} train {r['train_images_per_second']:6d} img/s   inference (b1000) "
            f"{r['inference_images_per_second_b1000']:6d} img/s   peak RSS {r['peak_rss_mib']} MiB",
            flush=True,
        )
    base = next((r for r in rows if r["preset"] == "seed"), None)
    if base:
        for r in rows:
            r["train_speedup_vs_seed"] = round(r["train_images_per_second"] / base["train_images_per_second"], 2)
    write_result(
        "throughput" + ("_quick" if args.quick else ""),
        {
            "command": command(),
            "data": "MNIST train split (54,000) for one training epoch; MNIST t10k for inference",
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
