"""examples/digit_recognizer.ipynb runs top to bottom (on a small subset: its parameter cell replaced), and
is committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "digit_recognizer.ipynb"


def test_the_committed_notebook_has_no_outputs():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_notebook_runs_top_to_bottom_on_a_small_subset(shared_data, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    parameters.source = (
        f"DATA = 'kaggle:{shared_data / 'kaggle-digit-recognizer'}'\nLIMIT = 3000\nEPOCHS = 1\n"
        f"TEST_LIMIT = 2000\nRUN_DIR = {str(tmp_path / 'run')!r}\n"
    )
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert not [o for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert "887,530" in outputs or "887530" in outputs  # the original's parameter count, in the summary
    assert "validation split" in outputs and "submission.csv" in outputs and "2000 predictions" in outputs
    number = re.search(r"read the number (\d+) written (\d+)", outputs)
    assert number and number.group(1) == number.group(2), outputs[-400:]
    assert "DataError:" in outputs
    assert (tmp_path / "run" / "submission.csv").read_text().startswith("ImageId,Label")
