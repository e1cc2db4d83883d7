"""The hostile-input corpus of tests/test_hostile_cli.py through the real CLI, measured: for each case the
exit code, the one error line, the wall time and the peak RSS (the process's VmHWM, polled), under a
4-GiB address-space cap. Writes benchmarks/results/hostile_inputs.json for docs/results.md (hostile inputs).

    python benchmarks/hostile_inputs.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import data_spec, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from digitrec.data import load_dataset

import hostile
from helpers import run_measured
from renderings import black_on_white_png

CASES = {
    # name: (file name, bytes maker, what it is)
    "strip": ("strip.png", hostile.png_strip, "PNG of 1 × 40,000,000 pixels (78 KB)"),
    "large": ("large.png", hostile.png_large_blank, "blank 6000 × 6000 RGBA PNG (36 MP, the largest allowed)"),
    "jpeg": ("huge.jpg", hostile.jpeg_huge, "12000 × 12000 JPEG (144 MP)"),
    "jpeg-scans": ("scans.jpg", hostile.jpeg_many_scans, "320 × 320 progressive JPEG of ~6,900 scans (512 KB)"),
    "jpeg-progressive": (
        "progressive.jpg",
        lambda: hostile.jpeg_progressive_claiming(12000, 12000),
        "progressive JPEG claiming 12000 × 12000 (144 MP)",
    ),
    "idx-bomb": ("bomb.idx.gz", lambda: hostile.idx_gzip_bomb(1.0), "IDX .gz of ~1 MB unpacking to 1 GiB"),
    "idx-bomb-4": ("bomb4.idx.gz", lambda: hostile.idx_gzip_bomb(4.0), "IDX .gz of ~4 MB unpacking to 4 GiB"),
    "csv-rows": ("rows.csv.gz", hostile.csv_gz_rows, "1.9-MB .csv.gz of 684,000 valid rows"),
    "csv-wide": ("wide.csv", hostile.csv_wide_header, "CSV whose header has 200,000 columns"),
    "idx-dims": ("dims.idx", hostile.idx_many_dims, "IDX with 255 dimensions"),
    "idx-lying": ("lying.idx", hostile.idx_lying_header, "IDX header claiming 2^32 × 4 × 28 × 28 in 24 bytes"),
}


def main() -> None:
    data = load_dataset(data_spec("mnist"))
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        good = folder / "good.png"
        good.write_bytes(black_on_white_png(data.x_test[0], np.random.default_rng(0)))
        os.mkfifo(folder / "fifo.png")
        inputs = [(name, hostile.write(folder, file, make()), what) for name, (file, make, what) in CASES.items()]
        inputs += [("fifo", folder / "fifo.png", "a FIFO"), ("dev-zero", Path("/dev/zero"), "/dev/zero")]
        for name, path, what in inputs:
            result = run_measured([sys.executable, "-m", "digitrec", "predict", str(path), str(good)], timeout=60)
            error = [line for line in result["stderr"].splitlines() if line.startswith("digitrec: error:")]
            entry = {
                "case": name,
                "input": what,
                "exit_code": result["code"],
                "seconds": round(result["seconds"], 2),
                "peak_rss_mib": round(result["peak_mib"], 1),
                "stderr_lines": len(result["stderr"].splitlines()),
                "error": error[0].split(": ", 3)[-1] if error else None,
                "good_file_answered": str(good) in result["stdout"],
            }
            results.append(entry)
            print(
                f"{name:11} exit {entry['exit_code']}  {entry['seconds']:5.2f} s  {entry['peak_rss_mib']:6.1f} MiB  "
                f"{entry['error']}"
            )
    write_result(
        "hostile_inputs",
        {
            "command": "python benchmarks/hostile_inputs.py",
            "how": "digitrec predict HOSTILE good.png, in a subprocess under a 4-GiB address-space cap; peak RSS "
            "from the process's VmHWM, read every 10 ms",
            "cases": results,
        },
    )


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
