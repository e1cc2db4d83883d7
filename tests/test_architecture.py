"""The layout's rules, checked on the source: no import cycles inside digitrec (imports inside functions
count), arrows pointing down only, every module under 300 lines, and `import digitrec` staying light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "digitrec"
MAX_LINES = 300
# The layers, bottom first (docs/design.md): a module imports only from its own package, from lower layers,
# and from the packages of its own layer that are listed as its neighbours. The package root's __init__ is
# the public face, at the top with the CLI and the server.
LAYERS = (
    ("digitrec._version", "digitrec.errors", "digitrec.fileio", "digitrec.runtime"),
    ("digitrec.data",),
    ("digitrec.imaging",),
    ("digitrec.rundir", "digitrec.nets", "digitrec.bundled"),
    ("digitrec.inference",),
    ("digitrec.training", "digitrec.evaluation", "digitrec.export", "digitrec.predict"),
    ("digitrec.api",),
    ("digitrec", "digitrec.__main__", "digitrec.serve", "digitrec.cli"),
)
# Imports allowed sideways, within one layer; none other (evaluation reads a run's recipe through the run
# directory, not through training).
NEIGHBOURS = {
    "digitrec.errors": ("digitrec._version",),
    "digitrec.fileio": ("digitrec.errors",),
    "digitrec.runtime": ("digitrec._version", "digitrec.errors"),
    "digitrec.serve": ("digitrec._version",),
    "digitrec.cli": ("digitrec.serve",),
    "digitrec.__main__": ("digitrec.cli",),
}


def home(module: str) -> str:
    """The layer entry a module belongs to: the longest listed prefix (`digitrec` only for __init__)."""
    listed = [name for layer in LAYERS for name in layer]
    return max((n for n in listed if module == n or (module.startswith(n + ".") and n != "digitrec")), key=len)


RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The digitrec modules `path` imports, anywhere in it (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:  # `from digitrec import imaging` imports the module digitrec.imaging
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name.startswith("digitrec")} & set(MODULES)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def test_every_module_has_a_layer():
    assert {home(name) for name in MODULES} <= set(RANK)
    assert set(NEIGHBOURS) <= set(RANK)


def test_arrows_point_down():
    """Nothing imports upward, and packages of one layer import each other only where listed."""
    wrong = []
    for name, targets in GRAPH.items():
        source = home(name)
        for target in targets:
            to = home(target)
            if to == source or RANK[to] < RANK[source] or to in NEIGHBOURS.get(source, ()):
                continue
            wrong.append(f"{name} → {target}")
    assert not wrong, sorted(wrong)


def test_the_package_root_keeps_the_public_api_errors_and_the_run_format():
    loose = sorted(p.name for p in SRC.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "_version.py", "api.py", "errors.py", "fileio.py", "rundir.py"]


def test_every_module_is_under_300_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


BACKENDS = ("tensorflow", "keras", "jax", "onnxruntime")
HEAVY = ("pandas", "sklearn", "matplotlib")  # the training and data-file side: ~0.3–1 s of imports each


def modules_loaded(script: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter has imported after running `script`."""
    script += f"\nimport sys; print(' '.join(sorted(m for m in {watched!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split()


def test_importing_digitrec_and_its_cli_starts_no_backend():
    script = "import digitrec, digitrec.cli, digitrec.inference, digitrec.predict.reading\ndigitrec.cli.build_parser()"
    assert modules_loaded(script, BACKENDS + HEAVY) == []


def test_predict_with_the_bundled_onnx_model_loads_only_onnx_runtime(tmp_path):
    """The CLI start-up budget (issue #14: `digitrec predict one.png` in 0.5 s) leaves no room for pandas
    (~0.3 s) or TensorFlow (seconds) on the path of one image through the default model."""
    pytest.importorskip("onnxruntime")
    image = tmp_path / "one.png"
    script = (
        "import numpy as np; from PIL import Image\n"
        "pixels = np.zeros((28, 28), np.uint8); pixels[5:23, 12:16] = 255\n"
        f"Image.fromarray(pixels).save({str(image)!r})\n"
        "from digitrec.cli import main\n"
        f"assert main(['predict', {str(image)!r}]) == 0"
    )
    assert modules_loaded(script, BACKENDS + HEAVY) == ["onnxruntime"]
