"""The model, training and prediction code on Keras' JAX backend (CPU here; the same code runs where JAX
sees a GPU): a short training run through the CLI, then predictions from it."""

from __future__ import annotations

import json
import os

import pytest

from helpers import digitrec, train_args

pytest.importorskip("jax", reason="the [jax] extra is not installed")


def test_train_and_predict_on_the_jax_backend(shared_data, mnist, tmp_path):
    from digitrec.data.idx import write_idx

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    run = tmp_path / "jax-run"
    result = digitrec(*train_args(shared_data, run, limit=1200), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((run / "config.json").read_text())
    assert config["versions"]["backend"] == "jax"
    write_idx(tmp_path / "fifty.idx", mnist.x_test[:50])
    predicted = digitrec("predict", "--json", "--model", str(run), str(tmp_path / "fifty.idx"), env=env)
    assert predicted.returncode == 0 and predicted.stderr == "", predicted.stderr[-2000:]
    digits = [json.loads(line)["digit"] for line in predicted.stdout.splitlines()]
    assert len(digits) == 50
    # 1 epoch of 13 steps: measured 28 of 50 right (chance: 5); a broken path gives chance or a crash
    assert sum(d == int(label) for d, label in zip(digits, mnist.y_test[:50])) >= 18


def test_recipes_are_jitted_on_jax_whatever_their_xla_switch():
    """`jit_compile: false` (XLA off on TensorFlow) must not mean eager, op-by-op training on JAX."""
    import subprocess
    import sys

    code = (
        "from digitrec.training import build_model, recipes; "
        "m = build_model(recipes.get('fast'), 10); print(recipes.get('fast').jit_compile, m.jit_compile)"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]
