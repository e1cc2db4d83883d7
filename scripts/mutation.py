"""Mutation testing of the numpy-only core with mutmut 3, on the fast tests (`make mutation`).

    python scripts/mutation.py [MODULE ...] [--label NAME] [--jobs 2]      # from anywhere

MODULEs are paths under src/ (default: all of `[tool.mutmut] only_mutate` in pyproject.toml, which must list
them: mutmut reads its configuration from there only). Each run starts from a fresh mutants/ (mutmut would
otherwise keep earlier verdicts), runs under `nice -n 10` with at most 2 workers and 6 GiB of address space per
process, and writes its per-module summary under `runs.LABEL` in benchmarks/results/mutation.json, keeping the
other labels (e.g. `before` and `after` a round of new tests). Score = killed / (mutants - skipped); a timeout
is not a kill.

Tests that already fail on the unmutated code are deselected (recorded in the JSON): mutmut stops at the first
failure of its clean run, and such a test can kill nothing anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "mutation.json"
MAX_JOBS = 2  # the machine has 2 cores, shared with people working on it
# the console script: `python -m mutmut` runs its __main__ twice (two copies of its state)
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
NICE = ["nice", "-n", "10"]
# Address space per process. Some mutants scale an image by 256× instead of 1/256 and ask for tens of GB: they
# must fail with MemoryError (a kill), not wake the OOM killer on a shared machine. The fast tests need < 6 GiB.
MEMORY_LIMIT = 6 * 2**30
SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)")
RESULT_LINE = re.compile(r"^\s+(\S+__mutmut_\d+): (.+)$")


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def mutmut_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]


def dotted(module: str) -> str:
    """src/digitrec/data/prepare.py → digitrec.data.prepare (as mutmut names the mutants)."""
    return Path(module).with_suffix("").relative_to("src").as_posix().replace("/", ".")


def failing_tests(config: dict, env: dict[str, str]) -> list[str]:
    """Node ids of the tests that mutmut would run which fail (or error) on the unmutated code."""
    selection = [*config.get("pytest_add_cli_args", []), *config.get("pytest_add_cli_args_test_selection", [])]
    command = [*NICE, sys.executable, "-m", "pytest", "-q", "-rfE", "--tb=no", *selection]
    command = [c for c in command if c != "-x"]
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=limit_memory)
    if out.returncode not in (0, 1):  # 1: some tests failed; anything else: no test run at all
        raise SystemExit(f"the fast tests did not run (exit {out.returncode}):\n{out.stdout[-3000:]}{out.stderr}")
    failed = [m[1] for m in map(SUMMARY_LINE.match, out.stdout.splitlines()) if m]
    return list(dict.fromkeys(failed))


def mutmut_results(env: dict[str, str]) -> dict[str, str]:
    """Every mutant's status, from `mutmut results --all true`."""
    out = subprocess.run(
        [MUTMUT, "results", "--all", "true"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {m[1]: m[2].strip() for m in map(RESULT_LINE.match, out.splitlines()) if m}


def summarise(statuses: dict[str, str], modules: list[str]) -> dict[str, dict]:
    summary = {}
    for module in modules:
        prefix = dotted(module) + "."
        mine = {name: status for name, status in statuses.items() if name.startswith(prefix)}
        counts = Counter(mine.values())
        total, skipped = len(mine), counts["skipped"]
        summary[module] = {
            "mutants": total,
            "killed": counts["killed"],
            "survived": counts["survived"],
            "timeout": counts["timeout"],
            "no_tests": counts["no tests"],
            "skipped": skipped,
            "other": total - sum(counts[k] for k in ("killed", "survived", "timeout", "no tests", "skipped")),
            "score": round(counts["killed"] / (total - skipped), 4) if total > skipped else None,
            "surviving": sorted(name for name, status in mine.items() if status != "killed"),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="paths under src/ (default: pyproject's only_mutate)")
    parser.add_argument("--label", default="latest", help="the key of this run under `runs` in the JSON")
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"mutmut workers (at most {MAX_JOBS})")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs must be 1..{MAX_JOBS}")
    config = mutmut_config()
    configured = config["only_mutate"]
    modules = args.modules or configured
    missing = [m for m in modules if m not in configured]
    if missing:
        parser.error(f"not in [tool.mutmut] only_mutate of pyproject.toml (add them there first): {missing}")

    os.chdir(REPO)  # mutmut works in the current directory
    env = dict(os.environ)
    # mutmut runs pytest inside mutants/, whence tests/conftest.py would look for mutants/../shared/data.
    env.setdefault("DIGITREC_TEST_DATA", str(REPO.parent / "shared" / "data"))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    started = time.time()
    shutil.rmtree(REPO / "mutants", ignore_errors=True)  # fresh verdicts: mutmut keeps old ones otherwise
    print("baseline: the fast tests on the unmutated code ...", flush=True)
    deselected = failing_tests(config, env)
    for test in deselected:
        print(f"  fails already, deselected: {test}")
    env["PYTEST_ADDOPTS"] = " ".join(
        filter(None, [env.get("PYTEST_ADDOPTS"), *(f"--deselect {shlex.quote(t)}" for t in deselected)])
    )
    # No PYTHONPATH to mutants/src here: set before mutants/ exists, Python caches that the directory is absent,
    # and mutmut's own sys.path entry for it (the same string) then finds nothing. Tests that start
    # `python -m digitrec` in a subprocess therefore run the original code: they can miss a mutant, not fake a kill.
    selection = [dotted(m) + ".*" for m in modules]
    command = [*NICE, MUTMUT, "run", "--max-children", str(args.jobs), *selection]
    print("+", shlex.join(command), flush=True)
    status = subprocess.run(command, env=env, preexec_fn=limit_memory).returncode
    if status != 0:
        raise SystemExit(f"mutmut run failed (exit {status})")
    summary = summarise(mutmut_results(env), modules)

    dead = [m for m, s in summary.items() if s["mutants"] and not s["killed"]]
    if dead:  # every mutant surviving means the tests ran the original code, not the mutants
        raise SystemExit(f"no mutant killed in {dead}: are the tests importing mutants/src?")

    record = json.loads(args.output.read_text()) if args.output.exists() else {"benchmark": "mutation", "runs": {}}
    record["runs"][args.label] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": shlex.join(["python", "scripts/mutation.py", *sys.argv[1:]]),
        "mutmut_command": shlex.join(["mutmut", *command[command.index("run") :]]),
        "mutmut_version": subprocess.run([MUTMUT, "--version"], capture_output=True, text=True).stdout.strip(),
        "pytest_args": config.get("pytest_add_cli_args", []),
        "pytest_selection": "of the fast tests, those that reach the mutated function",
        "deselected_failing_tests": deselected,
        "minutes": round((time.time() - started) / 60, 1),
        "score_definition": "killed / (mutants - skipped)",
        "modules": summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")

    print(f"\n{'module':40} {'killed':>7} {'mutants':>8} {'survived':>9} {'timeout':>8} {'score':>6}")
    for module, s in summary.items():
        score = "-" if s["score"] is None else f"{s['score']:.1%}"
        print(f"{module:40} {s['killed']:7} {s['mutants']:8} {s['survived']:9} {s['timeout']:8} {score:>6}")
    print(f"wrote {args.output.relative_to(REPO)} (runs.{args.label})")


if __name__ == "__main__":
    main()
