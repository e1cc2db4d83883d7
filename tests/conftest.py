"""Shared fixtures. Tests that need the real data are marked `shared_data`; they skip with a reason when
../shared/data is absent, and `.ci/run` turns such a skip into a failure (CI must have the data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DIGITREC_TEST_DATA", REPO.parent / "shared" / "data"))
MISSING_DATA_REASON = f"real data not found at {SHARED_DATA} (set DIGITREC_TEST_DATA)"


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
