"""`scripts/train_digit_check.py` end to end on a few hundred images: the three files, a threshold that
keeps the asked share of validation digits, an ONNX twin equal to the Keras model, and a check the
inference side loads and applies."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import REPO

from digitrec.inference.digit_check import load_digit_check


def test_a_small_run_leaves_a_check_the_inference_side_uses(shared_data, tmp_path, mnist):
    out = tmp_path / "check"
    settings = ["--negatives", "160", "--photos", "40", "--typeset", "20", "--limit", "200"]
    settings += ["--line-digits", "30", "--line-others", "30"]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/train_digit_check.py"), "--out", str(out), "--epochs", "1", *settings],
        env={"DIGITREC_DATA": f"mnist:{shared_data / 'mnist'}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((out / "digit_check.json").read_text())
    assert meta["settings"]["limit"] == 200 and meta["examples"]["train"] > 200
    assert meta["onnx_max_difference"] <= 1e-4 and meta["part_threshold"] > 0 and 0 < meta["threshold"] < 1
    kept = meta["validation"]["kept"]
    assert kept["mnist"] >= 0.96 and kept["photo"] >= 0.96  # 99 % of each but the lowest of a few dozen
    onnx, keras_check = load_digit_check(out / "digit_check.onnx"), load_digit_check(out / "digit_check.keras")
    scores = onnx.scores(mnist.x_test[:32])
    assert scores.shape == (32,) and np.all((scores >= 0) & (scores <= 1))
    assert np.allclose(scores, keras_check.scores(mnist.x_test[:32]), atol=1e-4)
