"""Keras (TensorFlow) vs ONNX Runtime, float32 and int8, on the same model through digitrec's Predictor
interface: throughput at batch 1000 on the 10,000 MNIST test images, per-image latency at batch 1,
accuracy and agreement with Keras, and the cost of importing + loading each path in a fresh process (the
ONNX paths never import TensorFlow).

    python benchmarks/inference_backends.py [--model MODEL.keras|RUN_DIR] [--batch1-images 500] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np

from digitrec import bundled
from digitrec.data import load_dataset
from digitrec.inference import load_predictor
from digitrec.runtime.provenance import versions

from _common import data_spec, write_result

COLD_START = textwrap.dedent("""
    import json, sys, time

    def peak_rss_mib():  # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        line = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    start = time.perf_counter()
    import numpy as np
    from digitrec.inference import load_predictor
    predictor = load_predictor(sys.argv[1])
    loaded = time.perf_counter()
    predictor.predict_proba(np.zeros((1, 28, 28), np.uint8))
    first = time.perf_counter()
    print(json.dumps({"import_and_load_s": loaded - start, "first_prediction_s": first - loaded,
                      "tensorflow_imported": "tensorflow" in sys.modules,
                      "peak_rss_mib": peak_rss_mib()}))
""")


def cold_start(source: Path) -> dict:
    """Import + load + first prediction in a fresh interpreter (median of 2)."""
    runs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", COLD_START, str(source)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["import_and_load_s"])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in runs[0].items()}


def throughput(predictor, images: np.ndarray, batch_size: int, repeats: int) -> dict:
    predictor.predict_proba(images[:batch_size], batch_size=batch_size)  # warm-up (graph tracing, allocations)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        probs = predictor.predict_proba(images, batch_size=batch_size)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {
        "batch_size": batch_size,
        "images": len(images),
        "repeats": repeats,
        "best_s": round(best, 3),
        "median_s": round(statistics.median(times), 3),
        "images_per_s": round(len(images) / best),
        "latency_per_batch_ms": round(best / -(-len(images) // batch_size) * 1000, 3),
    }, probs


def single_image_latency(predictor, images: np.ndarray) -> dict:
    predictor.predict_proba(images[:1], batch_size=1)
    latencies = []
    for image in images:
        start = time.perf_counter()
        predictor.predict_proba(image[None], batch_size=1)
        latencies.append(time.perf_counter() - start)
    ms = np.array(latencies) * 1000
    return {
        "batch_size": 1,
        "images": len(images),
        "images_per_s": round(len(images) / ms.sum() * 1000),
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 3),
        "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
        "latency_ms_mean": round(float(ms.mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=bundled.KERAS, help="default: the bundled model")
    parser.add_argument("--batch1-images", type=int, default=500, help="images timed one by one (default 500)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes at batch 1000 (default 2)")
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: not found; pass --model MODEL.keras or a run directory")

    from digitrec.export.convert import export_model
    from digitrec.export.quantize import CALIBRATION_IMAGES, calibration_images

    data = load_dataset(data_spec("mnist"))
    images, labels = data.x_test, data.y_test
    calibration = calibration_images(data.x_train)  # training images: nothing tuned on the test set
    with tempfile.TemporaryDirectory() as tmp:
        backends = {
            "keras": args.model,
            "onnxruntime": export_model(args.model, "onnx", Path(tmp) / "model.onnx"),
            "onnxruntime_int8": export_model(
                args.model, "onnx", Path(tmp) / "model.int8.onnx", int8_calibration=calibration
            ),
        }
        results, probs = {}, {}
        for name, source in backends.items():
            predictor = load_predictor(source)
            big, probs[name] = throughput(predictor, images, 1000, args.repeats)
            results[name] = {
                "batch_1000": big,
                "batch_1": single_image_latency(predictor, images[: args.batch1_images]),
                "accuracy": float((probs[name].argmax(1) == labels).mean()),
                "cold_start": cold_start(source),
            }
            print(
                f"{name:16s} batch 1000: {big['images_per_s']:>7,} img/s   batch 1: "
                f"{results[name]['batch_1']['images_per_s']:>6,} img/s, p50 "
                f"{results[name]['batch_1']['latency_ms_p50']:.2f} ms   import+load "
                f"{results[name]['cold_start']['import_and_load_s']:.2f} s   accuracy "
                f"{results[name]['accuracy']:.2%} (tensorflow imported: "
                f"{results[name]['cold_start']['tensorflow_imported']})"
            )
    keras_res, comparisons = results["keras"], {}
    for name in ("onnxruntime", "onnxruntime_int8"):
        res = results[name]
        comparisons[name] = {
            "batch_1000_throughput": round(
                res["batch_1000"]["images_per_s"] / keras_res["batch_1000"]["images_per_s"], 2
            ),
            "batch_1_throughput": round(res["batch_1"]["images_per_s"] / keras_res["batch_1"]["images_per_s"], 2),
            "import_and_load_speedup": round(
                keras_res["cold_start"]["import_and_load_s"] / res["cold_start"]["import_and_load_s"], 2
            ),
            "argmax_identical": float((probs["keras"].argmax(1) == probs[name].argmax(1)).mean()),
            "max_abs_diff": float(np.abs(probs["keras"] - probs[name]).max()),
        }
        c = comparisons[name]
        print(
            f"{name} / keras: batch 1000 ×{c['batch_1000_throughput']}, batch 1 ×{c['batch_1_throughput']}, "
            f"import+load ×{c['import_and_load_speedup']} faster; argmax identical on "
            f"{c['argmax_identical']:.2%}, max |Δp| {c['max_abs_diff']:.1e}"
        )
    write_result(
        "inference_backends",
        {
            "command": "python benchmarks/inference_backends.py"
            + ("" if args.model == bundled.KERAS else " --model M"),
            "model": "bundled" if args.model == bundled.KERAS else args.model.name,
            "data": f"MNIST t10k (10,000 images); batch 1 on the first {args.batch1_images}; int8 calibrated on the "
            f"first {CALIBRATION_IMAGES} MNIST training images",
            "interface": "digitrec Predictor.predict_proba (uint8 in, normalisation included), no TTA",
            "load_average_1m": round(os.getloadavg()[0], 2),
            "versions": versions("onnxruntime"),
            "results": results,
            "over_keras": comparisons,
        },
    )


if __name__ == "__main__":
    main()
