"""Training and evaluating from Python, as a notebook does: the same run directory, metrics, figures and
report as the CLI, and the result loads and predicts."""

from __future__ import annotations

import json

import digitrec


def test_train_evaluate_load_from_python(shared_data, mnist, tmp_path):
    run = digitrec.train(
        preset="fast",
        data=f"mnist:{shared_data / 'mnist'}",
        out=tmp_path / "run",
        epochs=3,
        limit=4000,
        seed=3,
        verbose=0,
    )
    assert run == tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 3 and config["limit"] == 4000 and config["recipe"]["epochs"] == 3
    metrics = digitrec.evaluate(run)
    assert metrics["count"] == 10_000 and metrics["accuracy"] > 0.8
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    for name in ("curves.png", "confusion.png", "errors.png", "report.md"):
        assert (run / name).stat().st_size > 0
    rec = digitrec.load(run)
    assert (rec.predict_proba(mnist.x_test[:500]).argmax(1) == mnist.y_test[:500]).mean() > 0.8
    assert json.loads((run / "state.json").read_text())["temperature"] < 1.0  # label smoothing: sharpened
