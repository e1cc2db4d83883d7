"""Shared benchmark plumbing: machine facts, data location, JSON results."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_spec(kind: str) -> str:
    """`kind:DIR` from $DIGITREC_DATA_ROOT or ../shared/data, else plain `mnist` (download)."""
    root = Path(os.environ.get("DIGITREC_DATA_ROOT", DEFAULT_SHARED))
    sub = {"mnist": "mnist", "kaggle": "kaggle-digit-recognizer"}[kind]
    if (root / sub).is_dir():
        return f"{kind}:{root / sub}"
    if kind == "kaggle":
        raise SystemExit(f"Kaggle data not found under {root}; set DIGITREC_DATA_ROOT")
    return "mnist"


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    facts = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    # Only when the benchmark has imported Keras: the backend and, on JAX, the device it ran on (a GPU's
    # timings are no CPU's).
    if "keras" in sys.modules:
        facts["keras_backend"] = sys.modules["keras"].backend.backend()
        if facts["keras_backend"] == "jax":
            facts["jax_devices"] = [str(d.device_kind) for d in sys.modules["jax"].devices()]
    return facts


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def command() -> str:
    """The command line that ran this benchmark, as results record it to reproduce their figures."""
    return " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "checkout": checkout(),
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def revision(rev: str) -> str:
    """Git revision `rev` (a branch, HEAD~2, …) as a short commit hash, so that results name what ran."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode:
        raise SystemExit(f"--compare {rev}: not a revision of this repository")
    return found.stdout.strip()


@functools.cache
def checkout() -> str:
    """This checkout's commit as the benchmark started (the first call comes at import: an hour-long sweep
    names the code it ran, not a commit made while it ran), marked when its tracked files had changes not
    committed yet."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return "unknown (not a git checkout)"
    changed = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode
    return head.stdout.strip() + (" + uncommitted changes" if changed else "")


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """The source folder (`src`) of git revision `rev`, checked out in a temporary worktree for as long as
    the block runs: what `--compare REV` times side by side with this checkout."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev])
        if added.returncode:
            raise SystemExit(f"--compare {rev}: not a revision of this repository")
        try:
            yield tree / "src"
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


checkout()
