"""Shared fixtures, one of each kind. A test that uses the real data (the `shared_data` fixture, directly or
through `mnist`, `predictor`'s helpers and the like) is marked `shared_data` automatically; it skips with a
reason when ../shared/data is absent, and `.ci/run` turns such a skip into a failure (CI must have the data).
Tests that train a model or start many processes are marked `slow` here too, by name, so that
`make test-fast` (`-m "not slow and not browser"`) takes about a minute and a half on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.register_assert_rewrite("helpers")  # its checks report values as a test's own asserts do

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DIGITREC_TEST_DATA", REPO.parent / "shared" / "data"))
MISSING_DATA_REASON = f"real data not found at {SHARED_DATA} (set DIGITREC_TEST_DATA)"
# Modules whose every test trains models or runs many subprocesses (see the module docstrings).
SLOW_MODULES = {
    "test_cli_pipeline",
    "test_export",
    "test_recipes_training",
    "test_chaos",
    "test_hostile_cli",
    "test_distributed",
    "test_multiworker",
    "test_notebook",
    "test_api_train",
    "test_bundled",
    "test_jax_backend",
    "test_number_reader_training",
    "test_digit_check_training",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)
        if item.module is not None and item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "kaggle-digit-recognizer").is_dir():
        pytest.skip(MISSING_DATA_REASON)
    return SHARED_DATA


@pytest.fixture(scope="session")
def mnist(shared_data):
    """The real MNIST train/test arrays (uint8), loaded once per session."""
    from digitrec.data import load_dataset

    return load_dataset(f"mnist:{shared_data / 'mnist'}")


@pytest.fixture(scope="session")
def predictor():
    """The bundled model, as `predict` and `serve` use it by default."""
    from digitrec.inference import load_predictor

    return load_predictor()


@pytest.fixture(scope="session")
def one_per_class(mnist, predictor):
    """For each digit 0–9, the first MNIST test image of it that the model recognises with ≥ 90% confidence
    from its own pixels: for tests about the path to the model, not about the model's hard cases."""
    probabilities = predictor.predict_proba(mnist.x_test[:500])
    confident = (probabilities.argmax(axis=1) == mnist.y_test[:500]) & (probabilities.max(axis=1) >= 0.9)
    return [(mnist.x_test[int(np.argmax(confident & (mnist.y_test[:500] == digit)))], digit) for digit in range(10)]
