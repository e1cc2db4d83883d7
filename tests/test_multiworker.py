"""`--distribute multiworker`: two worker processes on 127.0.0.1 train one small run with Keras'
distribution API on the JAX backend. Both end with identical weights, the chief alone writes the run
directory, the result loads and predicts, and no socket of theirs leaves the loopback address. Without the
JAX backend or the cluster's environment, one clear line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import digitrec

pytest.importorskip("jax", reason="the JAX backend is not installed")

# Each worker trains through the public API and saves the weights it ended with.
WORKER = """
import sys
import numpy as np
import digitrec
out, weights, data = sys.argv[1:4]
path = digitrec.train("fast", data=data, out=out, epochs=2, limit=3000, distribute="multiworker", verbose=0)
import keras
model = keras.saving.load_model(path / "model.keras")
np.save(weights, np.concatenate([np.ravel(w) for w in model.get_weights()]))
print(path)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def off_loopback(pids: set[int]) -> tuple[int, list[str]]:
    """How many TCP sockets the processes have, and those bound or connected beyond 127.0.0.1."""
    out = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, check=True).stdout
    seen, wrong = 0, []
    for line in out.splitlines():
        if not any(f"pid={pid}," in line for pid in pids):
            continue
        seen += 1
        state, _, _, local, peer = line.split()[:5]
        loopback = ("127.0.0.1:", "[::ffff:127.0.0.1]:")
        if not local.startswith(loopback) or (state != "LISTEN" and not peer.startswith(loopback)):
            wrong.append(line)
    return seen, wrong


def test_two_workers_on_loopback_train_one_run(shared_data, mnist, tmp_path):
    port, out = free_port(), tmp_path / "run"
    base = {**os.environ, "KERAS_BACKEND": "jax", "TMPDIR": str(tmp_path)}
    base |= {"KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(out), str(tmp_path / f"w{rank}.npy"), f"mnist:{shared_data / 'mnist'}"],
            env={**base, "KERAS_DISTRIBUTION_PROCESS_ID": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    seen, wrong, deadline = 0, [], time.monotonic() + 600
    while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
        count, bad = off_loopback({w.pid for w in workers})
        seen, wrong = seen + count, wrong + bad
        time.sleep(0.5)
    results = [w.communicate(timeout=max(1.0, deadline - time.monotonic())) for w in workers]
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err[-3000:]
    assert seen > 0 and not wrong, wrong  # they did talk, and only over 127.0.0.1

    first, second = np.load(tmp_path / "w0.npy"), np.load(tmp_path / "w1.npy")
    assert first.size > 100_000 and np.array_equal(first, second)
    chief_path, worker_path = (stdout.strip().splitlines()[-1] for stdout, _ in results)
    assert chief_path == str(out) and worker_path != str(out)
    assert not os.path.exists(worker_path)  # the worker's copy went with it
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock",  # the chief's: one writer at a time
        "checkpoint-2.keras",
        "config.json",
        "history.csv",
        "model.keras",
        "state.json",
    ]
    assert json.loads((out / "config.json").read_text())["distribute"]["strategy"] == "multiworker"
    assert len((out / "history.csv").read_text().splitlines()) == 3  # header and one row per epoch

    import digitrec

    probabilities = digitrec.load(out).predict_proba(mnist.x_test[:500])
    assert probabilities.shape == (500, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert (probabilities.argmax(axis=1) == mnist.y_test[:500]).mean() > 0.8  # it learned: gradients combined right


@pytest.mark.parametrize(
    "backend, environment, phrase",
    [
        ("tensorflow", {}, "runs on the JAX backend"),
        ("jax", {}, "KERAS_DISTRIBUTION_JOB_ADDRESSES"),
        ("jax", {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "nowhere"}, "HOST:PORT"),
    ],
)
def test_multiworker_mistakes_are_one_line(shared_data, tmp_path, backend, environment, phrase):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    environment = {"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "0", **environment}
    result = digitrec(
        *("train", "--data", f"mnist:{shared_data / 'mnist'}", "--limit", "600", "--distribute", "multiworker"),
        *("--out", str(tmp_path / "run")),
        env={**clean, "KERAS_BACKEND": backend, **(environment if backend == "jax" else {})},
    )
    assert result.returncode == 1 and phrase in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "run").exists()
