"""Batch inference at scale: `digitrec predict --csv` on a generated IDX (.gz) and Kaggle CSV of N images,
with the local engine (streaming) and the Ray engine (a local Ray, loopback only), each in its own process:
wall time, images/s and peak RSS (of the process and its children: for Ray, the driver and every worker).
Memory of the local engine is measured at three sizes to show it stays flat; Ray, at ~700 img/s on two
cores, at the two smaller ones.

    python benchmarks/scale_predict.py [--images 1000000] [--ray-images 100000] [--small 10000] [--workers 2]

The images are MNIST t10k digits repeated (generated into a temporary folder, never kept). On one 2-core
machine Ray cannot be faster than the local engine: the figures show its cost and that it scales out, not
a speed-up.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import command, data_spec, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from digitrec.data import load_dataset
from digitrec.data.idx import encode_idx

from helpers import run_measured


def write_inputs(folder: Path, images: np.ndarray, count: int) -> dict[str, Path]:
    """`count` images as an IDX .gz and a Kaggle test CSV, written in pieces (never all in memory)."""
    idx, csv = folder / f"digits-{count}.idx.gz", folder / f"digits-{count}.csv"
    header = encode_idx(np.zeros((count, 28, 28), np.uint8))[:16]
    with gzip.open(idx, "wb", compresslevel=1) as out:
        out.write(header)
        for start in range(0, count, len(images)):
            out.write(images[: min(len(images), count - start)].tobytes())
    rows = [",".join(map(str, image.ravel())) + "\n" for image in images]
    with open(csv, "w") as out:
        out.write(",".join(f"pixel{i}" for i in range(784)) + "\n")
        for start in range(0, count, len(rows)):
            out.writelines(rows[: min(len(rows), count - start)])
    return {"idx": idx, "csv": csv}


def measure(path: Path, engine: str, workers: int, ray_tmp: str) -> dict:
    command = [sys.executable, "-m", "digitrec", "predict", "--csv", "--engine", engine, str(path)]
    if engine == "ray":
        command[5:5] = ["--workers", str(workers)]
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    result = run_measured(
        [*command, "--progress"], timeout=7200, memory_cap=64 << 30, env=env, stdout_limit=0, tree=True
    )
    lines = result["stdout_lines"] - 1
    return {
        "engine": engine,
        "file": path.name,
        "images": lines,
        "exit_code": result["code"],
        "seconds": round(result["seconds"], 1),
        "images_per_s": round(lines / result["seconds"]),
        "peak_rss_mib": round(result["peak_mib"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--ray-images", type=int, default=100_000, help="the Ray engine's large size (~700 img/s on 2 cores)"
    )
    args = parser.parse_args()
    digits = load_dataset(data_spec("mnist")).x_test
    results = []
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory(prefix="rt-", dir="/tmp") as ray_tmp:
        sizes = sorted({args.small, args.ray_images, args.images})
        for count in sizes:
            inputs = write_inputs(Path(scratch), digits, count)
            for kind, path in inputs.items():
                for engine in ("local", "ray") if count <= args.ray_images else ("local",):
                    entry = {"count": count, "format": kind, **measure(path, engine, args.workers, ray_tmp)}
                    results.append(entry)
                    print(
                        f"{count:>9,} {kind:4} {engine:5}: {entry['seconds']:7.1f} s  {entry['images_per_s']:7,} "
                        f"img/s  peak {entry['peak_rss_mib']:5,} MiB  exit {entry['exit_code']}",
                        flush=True,
                    )
            for path in inputs.values():
                path.unlink()
    write_result(
        "scale_predict",
        {
            "command": command(),
            "how": "digitrec predict --csv FILE (--engine ray --workers N), output counted not kept; peak RSS: the "
            "largest summed RSS of the process and its descendants (Ray: driver, raylet, workers), every 0.2 s; "
            "the bundled model on ONNX Runtime",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
