"""Load on `digitrec serve`, on 127.0.0.1 only, bounded in clients and time: N concurrent clients post
typical photos of real MNIST test digits (150×150, as a phone crop would be) for T seconds; then the same
with hostile uploads mixed in; then one client alone. Reports requests/s, p50/p99 latency, the server's CPU
time per request, errors and the server's memory (RSS before, after, peak), and writes
benchmarks/results/serve_load.json.

    python benchmarks/serve_load.py [--clients 16] [--seconds 30] [--model M]
    python benchmarks/serve_load.py --compare REV [--rounds 2]   # and REV's server, alternating
    python benchmarks/serve_load.py --variant "--workers 2"      # and this server with other options

The clients run in this process on the same cores as the server, so they are kept lean: asyncio streams,
one keep-alive HTTP/1.1 connection each, requests built once in advance (~0.1 ms of CPU per request; an
httpx.AsyncClient spends ~2 ms, as much as the server's own request path, and adds it to every latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import command, data_spec, revision, worktree, write_result
from _http_client import CLIENT, Connection, upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from digitrec.data import load_dataset

import hostile
from helpers import child_pids, serve_process

MAX_CLIENTS, MAX_SECONDS = 64, 120  # the bounds: a load test, not a flood


def photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 150×150 JPEG of dark ink on slightly uneven paper, like a phone crop of a written digit."""
    ink = np.asarray(Image.fromarray(digit).resize((110, 110), Image.Resampling.BICUBIC), np.float32) / 255
    canvas = np.zeros((150, 150), np.float32)
    top, left = rng.integers(5, 35, 2)
    canvas[top : top + 110, left : left + 110] = ink
    paper = 0.85 + 0.08 * np.linspace(0, 1, 150)[None, :] + rng.normal(0, 0.02, (150, 150))
    grey = np.clip(paper * (1 - canvas) + 0.1 * canvas, 0, 1)
    buffer = io.BytesIO()
    Image.fromarray((grey * 255).astype(np.uint8)).convert("RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def server_pids(pid: int) -> list[int]:
    """The server process and its children (the workers of `--workers N`)."""
    return [pid, *child_pids(pid)]


def memory_mib(pid: int) -> dict:
    """Resident and peak memory of the server, summed over its processes (the peaks are each process's
    own, so their sum is an upper bound)."""
    totals = {"VmRSS": 0, "VmHWM": 0}
    for process in server_pids(pid):
        status = Path(f"/proc/{process}/status").read_text()
        for key, value in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M):
            totals[key] += int(value)
    return {"rss": round(totals["VmRSS"] / 1024, 1), "peak": round(totals["VmHWM"] / 1024, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of the server's live processes (Linux)."""
    ticks = 0
    for process in server_pids(pid):
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def load(
    url: str,
    clients: int,
    seconds: float,
    goods: list[tuple[bytes, int]],
    *,
    bads: list[bytes],
    hostile_every: int = 0,
    server_pid: int | None = None,
) -> dict:
    host, port = url.removeprefix("http://").split(":")
    requests_good = [(upload(host, data, "digit.jpg", "image/jpeg"), label) for data, label in goods]
    requests_bad = [upload(host, data, "x.png") for data in bads]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    wrong = 0
    hostile_statuses: dict[str, int] = {}
    stop = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal wrong
        connection = Connection(host, int(port))
        count = 0
        while time.perf_counter() < stop:
            count += 1
            if hostile_every and count % hostile_every == 0:
                status, _ = await connection.request(requests_bad[(index + count) % len(requests_bad)])
                key = str(status or "closed")
                hostile_statuses[key] = hostile_statuses.get(key, 0) + 1
                continue
            raw, label = requests_good[(index * 7 + count) % len(requests_good)]
            start = time.perf_counter()
            status, body = await connection.request(raw)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors[str(status or "closed")] = errors.get(str(status or "closed"), 0) + 1
            elif json.loads(body)["digit"] != label:
                wrong += 1
        connection.close()

    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 2),
            "p90": round(float(np.percentile(ms, 90)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2),
            "max": round(float(ms.max()), 2),
        },
        # Of every request of the phase, hostile ones included: what serving one costs the machine.
        "server_cpu_ms_per_request": (
            round((cpu_seconds(server_pid) - cpu_before) * 1000 / (len(latencies) + sum(hostile_statuses.values())), 2)
            if server_pid
            else None
        ),
        "errors": errors,
        "wrong_answers": wrong,
        "hostile_uploads": hostile_statuses,
    }


def phases(
    args, goods: list[tuple[bytes, int]], bads: list[bytes], src: Path | None = None, server_args: tuple = ()
) -> dict:
    """One server (this checkout, or the code under `src`; `server_args` added to its command line), the
    three phases, its memory."""
    env = {"PYTHONPATH": str(src)} if src else {}
    model = ["--model", args.model] if args.model else []
    with serve_process(*model, *server_args, env=env) as (url, server):
        asyncio.run(load(url, 2, 3, goods, bads=bads))  # warm-up, not reported
        before = memory_mib(server.pid)
        good_only = asyncio.run(load(url, args.clients, args.seconds, goods, bads=bads, server_pid=server.pid))
        after_good = memory_mib(server.pid)
        mixed = asyncio.run(
            load(url, args.clients, args.seconds, goods, bads=bads, hostile_every=5, server_pid=server.pid)
        )
        after_mixed = memory_mib(server.pid)
        single = asyncio.run(load(url, 1, min(args.seconds, 10), goods, bads=bads, server_pid=server.pid))
    for label, result in (("good uploads", good_only), ("1 in 5 hostile", mixed), ("one client", single)):
        lat = result["latency_ms"]
        print(
            f"{label:16} {result['clients']:3} clients: {result['requests_per_s']:7.1f} req/s, "
            f"p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, "
            f"server CPU {result['server_cpu_ms_per_request']:.1f} ms/request, errors {result['errors'] or 0}, "
            f"wrong {result['wrong_answers']}, hostile {result['hostile_uploads'] or '-'}"
        )
    print(f"server memory (MiB): before {before}, after good {after_good}, after mixed {after_mixed}")
    return {
        "summary": {
            "one_client_p50_ms": single["latency_ms"]["p50"],
            "one_client_p99_ms": single["latency_ms"]["p99"],
            f"{args.clients}_clients_requests_per_s": good_only["requests_per_s"],
            f"{args.clients}_clients_p99_ms": good_only["latency_ms"]["p99"],
        },
        "good_only": good_only,
        "mixed_hostile": mixed,
        "single_client": single,
        "server_memory_mib": {"before": before, "after_good": after_good, "after_mixed": after_mixed},
    }


def compare(args, goods: list[tuple[bytes, int]], bads: list[bytes]) -> dict:
    """Two servers alternating for `args.rounds` rounds (A B A B …): this checkout against revision
    `args.compare`'s code, or against itself with `args.variant`'s options; the ratios per round (B ÷ A
    for --variant, this checkout ÷ the revision for --compare) of the throughput and one-client latency."""
    with worktree(args.compare) if args.compare else contextlib.nullcontext() as src:
        if args.compare:
            plan = [("this checkout", None, ()), (args.compare, src, ())]
        else:
            plan = [("this checkout", None, ()), (args.variant, None, tuple(args.variant.split()))]
        sides: dict[str, list[dict]] = {label: [] for label, _, _ in plan}
        for index in range(args.rounds):
            for label, path, extra in plan:
                print(f"round {index + 1}, {label}:")
                sides[label].append(phases(args, goods, bads, path, extra))
    (new_label, *_), (old_label, *_) = plan if args.compare else plan[::-1]
    pairs = list(zip(sides[new_label], sides[old_label], strict=True))
    ratios = {
        "requests_per_s": [
            new["good_only"]["requests_per_s"] / old["good_only"]["requests_per_s"] for new, old in pairs
        ],
        "one_client_p50": [
            new["single_client"]["latency_ms"]["p50"] / old["single_client"]["latency_ms"]["p50"] for new, old in pairs
        ],
    }
    for name, values in ratios.items():
        listed = ", ".join(f"{v:.3f}" for v in values)
        print(f"{name}, {new_label} ÷ {old_label}: median {statistics.median(values):.3f} ({listed})")
    return {f"ratios_{new_label}_to_{old_label}".replace(" ", "_"): ratios, "rounds": sides}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--name", default="serve_load")
    parser.add_argument("--compare", metavar="REV", help="also serve git revision REV's code, alternating")
    parser.add_argument("--variant", metavar="ARGS", help="also serve this checkout with these server options")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare or --variant: rounds of A B")
    args = parser.parse_args()
    if args.compare:
        args.compare = revision(args.compare)
    if not (1 <= args.clients <= MAX_CLIENTS and 0 < args.seconds <= MAX_SECONDS):
        raise SystemExit(f"clients must be 1–{MAX_CLIENTS} and seconds at most {MAX_SECONDS}")

    data = load_dataset(data_spec("mnist"))
    rng = np.random.default_rng(0)
    picks = rng.choice(len(data.x_test), 50, replace=False)
    goods = [(photo(data.x_test[i], rng), int(data.y_test[i])) for i in picks]
    bads = [
        hostile.png_strip(),
        hostile.png_large_blank(),
        hostile.jpeg_huge(),
        bytes(range(256)) * 40,
        hostile.idx_gzip_bomb(0.01),
    ]
    if args.compare and args.variant:
        raise SystemExit("--compare and --variant: one at a time")
    measured = compare(args, goods, bads) if args.compare or args.variant else phases(args, goods, bads)
    write_result(
        args.name,
        {
            "command": command(),
            "model": args.model or "bundled (ONNX Runtime when installed)",
            "payload": "150x150 JPEG photos of 50 MNIST t10k digits, multipart upload",
            "hostile_payloads": [
                "1x40M PNG strip",
                "36 MP blank PNG",
                "144 MP JPEG",
                "garbage bytes",
                "IDX gzip bomb (10 MB unpacked)",
            ],
            "client": CLIENT,
            "note": "clients and server share the machine's cores; loopback only",
            **measured,
        },
    )


if __name__ == "__main__":
    main()
