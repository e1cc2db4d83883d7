"""What a user waits for on one photo, without the server: decoding, preprocessing (decoded image → 28×28),
inference of one image, and a whole `digitrec predict one.jpg` process (`python -m digitrec`); and the
drawing page's requests, a 280-px canvas sent at 280 or at 140 px.

Photos: 150×150 JPEGs of MNIST t10k digits on uneven paper (the serve benchmark's). Each stage is timed
over all photos, per photo, in R rounds; the median and the best round are reported; so are the drawing
page's 140-px requests (decoding + preprocessing per drawing). With `--compare REV` the same timing (and the
CLI's) runs for the code at git revision REV (a temporary worktree) in alternating subprocesses, A B A B …,
so the ratios are measured side by side on this drifting machine.

    python benchmarks/preprocessing.py                    # this checkout
    python benchmarks/preprocessing.py --compare 83e7069  # against an older revision, interleaved
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, command, data_spec, revision, worktree, write_result

PHOTOS = 100


def photos() -> tuple[list[bytes], list[int]]:
    import numpy as np
    from serve_load import photo

    from digitrec.data import load_dataset

    data = load_dataset(data_spec("mnist"))
    rng = np.random.default_rng(0)
    picks = rng.choice(len(data.x_test), PHOTOS, replace=False)
    return [photo(data.x_test[i], rng) for i in picks], [int(data.y_test[i]) for i in picks]


def canvases(side: int) -> tuple[list[bytes], list[int]]:
    """The drawing page's requests: the same MNIST t10k digits as white strokes on a black 280×280 canvas
    (enlarged ×10, as a finger or mouse draws them there), sent as PNG at `side` px (the page scales the
    canvas down with smoothing: Pillow's box filter stands in for the browser's)."""
    import io

    import numpy as np
    from PIL import Image

    from digitrec.data import load_dataset

    data = load_dataset(data_spec("mnist"))
    picks = np.random.default_rng(0).choice(len(data.x_test), PHOTOS, replace=False)
    encoded = []
    for i in picks:
        drawn = Image.fromarray(data.x_test[i]).resize((280, 280), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        drawn.resize((side, side), Image.Resampling.BOX).save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    return encoded, [int(data.y_test[i]) for i in picks]


def time_canvases(rounds: int, recognizer) -> dict:
    """Decoding + preprocessing per drawing at the page's old (280 px) and new (140 px) send size, the
    sizes alternating within each round, and the bundled model's accuracy on each."""
    import numpy as np

    from digitrec import imaging

    sizes = {side: canvases(side) for side in (280, 140)}
    times: dict[int, list[float]] = {side: [] for side in sizes}
    for _ in range(rounds + 1):  # the first round warms up
        for side, (images, _) in sizes.items():
            start = time.perf_counter()
            for data in images:
                imaging.to_mnist(imaging.load_image(data))
            times[side].append((time.perf_counter() - start) / len(images) * 1000)
    result = {}
    for side, (images, labels) in sizes.items():
        prepared = np.stack([imaging.to_mnist(imaging.load_image(data)) for data in images])
        accuracy = float(np.mean(recognizer.predict_proba(prepared).argmax(1) == labels))
        result[f"{side}px"] = summary(times[side][1:]) | {"accuracy": accuracy}
    ratios = [small / large for small, large in zip(times[140][1:], times[280][1:], strict=True)]
    result["ratio_140_to_280"] = summary(ratios) | {"range_max": round(max(ratios), 3)}
    return result


def time_stages(images: list[bytes], drawings: list[bytes]) -> dict:
    """One round: ms per photo for each stage, and per drawing (the page's 140-px PNG) for decoding +
    preprocessing (run inside the process of the code under test)."""
    from digitrec import imaging

    def per_item(work) -> float:
        start = time.perf_counter()
        for item in work:
            item()
        return (time.perf_counter() - start) / len(work) * 1000

    decoded = [imaging.load_image(b) for b in images]
    return {
        "decode_ms": per_item([lambda b=b: imaging.load_image(b) for b in images]),
        "preprocess_ms": per_item([lambda d=d: imaging.to_mnist(d) for d in decoded]),
        "drawing_ms": per_item([lambda b=b: imaging.to_mnist(imaging.load_image(b)) for b in drawings]),
    }


def child(src: str, rounds: int, payload: str) -> None:
    """`--child`: time this process's digitrec (from `src`) on the photos, one JSON line per round."""
    sys.path.insert(0, src)
    for name in [n for n in sys.modules if n.startswith("digitrec")]:
        del sys.modules[name]
    images, drawings = ([bytes.fromhex(h) for h in part] for part in json.loads(Path(payload).read_text()))
    time_stages(images, drawings)  # warm-up
    for _ in range(rounds):
        print(json.dumps(time_stages(images, drawings)), flush=True)


def run_child(src: str, payload: str) -> dict:
    cmd = [sys.executable, __file__, "--child", src, "--payload", payload]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    return json.loads(lines[-1])


def cli_wall(image: Path, src: str) -> float:
    """One `digitrec predict IMAGE` process, with the code under `src`: its wall time."""
    env = os.environ | {"PYTHONPATH": src}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digitrec", "predict", str(image)], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "best": round(min(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", metavar="REV", help="also time git revision REV, interleaved")
    parser.add_argument("--name", default="preprocessing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        args.compare = revision(args.compare)
    if args.child:
        child(args.child, 1, args.payload)
        return

    import numpy as np

    from digitrec import imaging, load

    images, labels = photos()
    recognizer = load()
    prepared = np.stack([imaging.to_mnist(imaging.load_image(b)) for b in images])
    accuracy = float(np.mean(recognizer.predict_proba(prepared).argmax(1) == labels))
    one = prepared[:1]
    recognizer.predict_proba(one)
    start = time.perf_counter()
    for _ in range(200):
        recognizer.predict_proba(one)
    inference_ms = (time.perf_counter() - start) / 200 * 1000

    with tempfile.TemporaryDirectory() as tmp, worktree(args.compare) if args.compare else nullcontext() as baseline:
        payload = Path(tmp) / "photos.json"
        payload.write_text(json.dumps([[b.hex() for b in images], [b.hex() for b in canvases(140)[0]]]))
        image = Path(tmp) / "one.jpg"
        image.write_bytes(images[0])
        sources = {"this checkout": str(ROOT / "src")} | ({args.compare: str(baseline)} if baseline else {})
        rounds: dict[str, list[dict]] = {label: [] for label in sources}
        walls: dict[str, list[float]] = {label: [] for label in sources}
        for _ in range(args.rounds):  # A B A B …: both sides see the same minutes of the machine
            for label, src in sources.items():
                rounds[label].append(run_child(src, str(payload)))
                walls[label].append(cli_wall(image, src))

    canvas = time_canvases(args.rounds, recognizer)
    results = {label: {stage: summary([r[stage] for r in rows]) for stage in rows[0]} for label, rows in rounds.items()}
    if args.compare:
        for stage in ("preprocess", "drawing"):
            ratios = [
                new[f"{stage}_ms"] / old[f"{stage}_ms"]
                for new, old in zip(rounds["this checkout"], rounds[args.compare], strict=True)
            ]
            results[f"{stage}_ratio_to_{args.compare}"] = summary(ratios) | {"range_max": round(max(ratios), 3)}
    for label, stages in results.items():
        print(f"{label}: {stages}")
    print(f"inference of one image {inference_ms:.3f} ms; accuracy on the {PHOTOS} photos {accuracy:.2%}")
    print(f"drawing page, decode + preprocess per drawing (ms): {canvas}")
    for label, times in walls.items():
        print(f"digitrec predict one.jpg ({label}): median {statistics.median(times):.3f} s, best {min(times):.3f} s")
    write_result(
        args.name,
        {
            "command": command(),
            "photos": f"{PHOTOS} 150x150 JPEGs of MNIST t10k digits (benchmarks/serve_load.py's photo())",
            "rounds": args.rounds,
            "stages_ms_per_photo": results,
            "inference_one_image_ms": round(inference_ms, 3),
            "bundled_model_accuracy_on_photos": accuracy,
            "cli_predict_one_wall_s": {label: summary(times) for label, times in walls.items()},
            "canvas": "the drawing page's requests: 100 MNIST t10k digits enlarged to a 280x280 canvas, PNG at 280 "
            "and at 140 px (what the page sends now), decode + preprocess per drawing, sizes alternating",
            "canvas_ms_per_drawing": canvas,
            "cpu_count": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
