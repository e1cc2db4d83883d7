"""Training and evaluating from Python, as a notebook does: the same run directory, metrics, figures and
report as the CLI, and the result loads and predicts."""

from __future__ import annotations

import json

import pytest

import digitrec
from digitrec.training import recipes


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


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"epochs": 0}, "epochs must be an integer from 1 to 100,000"),
        ({"batch_size": 10**20}, "batch_size must be an integer from 1 to 1,048,576"),
        ({"limit": 0}, "limit must be a positive number of images"),
        ({"limit": -100}, "limit must be a positive number of images"),
        ({"limit": 512.5}, "limit must be a positive number of images"),
        ({"ensemble": 0}, "an ensemble has 1 to 1000 members"),
        ({"ensemble": 2000}, "an ensemble has 1 to 1000 members"),
        ({"ensemble": 2.0}, "an ensemble has 1 to 1000 members"),
        ({"batchsize": 64}, "unknown recipe fields: batchsize"),
        ({"seed": 2**31 - 1, "ensemble": 2}, "needs seeds up to 2\\^31 - 1"),
        ({"preset": 7}, "a preset name or a .json path, got 7"),
    ],
)
def test_train_refuses_bad_arguments_before_writing_anything(arguments, message, mnist, monkeypatch, tmp_path):
    """Each wrong argument is a ConfigError naming it, raised before the run directory exists (never a
    silent default: epochs=0 once ran the recipe's epochs, limit=0 all images, ensemble=0 one member)."""
    monkeypatch.setattr("digitrec.data.load_dataset", lambda spec, with_test=True: mnist)
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(recipes.get("fast").to_dict()))
    with pytest.raises(digitrec.ConfigError, match=message):
        digitrec.train(**{"preset": recipe, **arguments, "out": tmp_path / "run"})
    assert not (tmp_path / "run").exists()
