"""Robustness off MNIST: digits as users make them (`digitrec.evaluation.corruptions`, 15 corruptions × 3
severities, MNIST-C style), digits by other writers and in other hands (UCI 8×8 digits, typeset digits),
and non-digits, each scored through exactly the path `digitrec predict` takes: image file bytes →
`digitrec.predict.reading.load_input` (the `imaging` preprocessing) → the model. Accuracy, mean confidence and
expected calibration error per cell; how well confidence separates digits from non-digits.

Select on `--split val` (corrupted digits of MNIST train's 10 % validation split, seed 0, which no model
here trains on; the even half of the UCI and typeset digits), report on `--split test` (MNIST t10k; the
odd half). Writes benchmarks/results/<name>.json.

    python benchmarks/robustness.py --split test [--model bundled] [--model runs/x ...] [--per-cell 500]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import time
from pathlib import Path

import numpy as np

from digitrec.data import load_dataset, prepare
from digitrec.errors import DigitrecError
from digitrec.evaluation import corruptions
from digitrec.inference import load_predictor
from digitrec.predict import reading

from _common import command, data_spec, write_result
from digit_sources import font_digits, non_digits, uci_digits

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "robustness-cache"  # preprocessed arrays (derived from MNIST: never committed)
BLANK = np.zeros((28, 28), np.uint8)


def _prepare_one(source) -> tuple[np.ndarray, bool]:
    """One input through the predict path's preprocessing; a failure ("no ink found", …) is kept as such."""
    try:
        return reading.prepare_image(source, "input")[0], True
    except DigitrecError:
        return BLANK, False


def prepare_all(sources: list) -> tuple[np.ndarray, np.ndarray]:
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_prepare_one, sources, chunksize=64)
    return np.stack([r[0] for r in results]), np.array([r[1] for r in results])


def cells(split: str, per_cell: int) -> dict[str, tuple[list, np.ndarray]]:
    """Every test cell as (inputs, labels): rendered corruptions, then the other sources."""
    data = load_dataset(data_spec("mnist"))
    if split == "test":
        pool_x, pool_y = data.x_test, data.y_test
    else:
        validation = prepare.split(data.x_train, data.y_train, 0.1, seed=0)
        pool_x, pool_y = validation.x_val, validation.y_val
    out: dict[str, tuple[list, np.ndarray]] = {}
    plan = [("clean", 1), *((name, s) for name in corruptions.CORRUPTIONS for s in corruptions.SEVERITIES)]
    for number, (name, severity) in enumerate([*plan, ("lowres8", 3)]):
        rng = np.random.default_rng([number, 1 if split == "test" else 2])
        picks = rng.choice(len(pool_x), per_cell, replace=False)
        if name == "lowres8":
            sources = [corruptions.lowres(pool_x[i], 3, rng, side=8) for i in picks]
        else:
            sources = [corruptions.render(name, pool_x[i], severity, rng) for i in picks]
        out[f"{name}/{severity}" if name != "lowres8" else "lowres/8px"] = (sources, pool_y[picks].astype(np.int64))
    parity = 1 if split == "test" else 0
    uci_images, uci_labels = uci_digits()
    out["other/uci-8x8"] = (uci_images[parity::2], uci_labels[parity::2])
    font_images, font_labels = font_digits()
    out["other/typeset"] = (font_images[parity::2], font_labels[parity::2])
    out["nondigit/letters+scribbles"] = (non_digits(np.random.default_rng(3 + parity)), np.full(524, -1))
    out["mnist/raw"] = (list(pool_x[:10_000]), pool_y[:10_000].astype(np.int64))  # as arrays: no rendering
    return out


def prepared(split: str, per_cell: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The cells' preprocessed images (cached per version of the preprocessing and of this file)."""
    code = b"".join(p.read_bytes() for p in sorted((ROOT / "src" / "digitrec" / "imaging").glob("*.py")))
    code += Path(corruptions.__file__).read_bytes() + Path(__file__).read_bytes()
    key = hashlib.sha256(code + f"{split}/{per_cell}".encode()).hexdigest()[:16]
    path = CACHE / f"{split}-{per_cell}-{key}.npz"
    if path.exists():
        stored = np.load(path)
        return {
            name: (stored[f"{name}|x"], stored[f"{name}|y"], stored[f"{name}|ok"])
            for name in {k.split("|")[0] for k in stored.files}
        }
    result = {}
    started = time.perf_counter()
    for name, (sources, labels) in cells(split, per_cell).items():
        if name == "mnist/raw":
            result[name] = (np.stack(sources), labels, np.ones(len(labels), bool))
            continue
        images, ok = prepare_all(sources)
        result[name] = (images, labels, ok)
    print(f"prepared {sum(len(v[1]) for v in result.values())} inputs in {time.perf_counter() - started:.0f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, **{f"{n}|{part}": arr for n, v in result.items() for part, arr in zip(["x", "y", "ok"], v)}
    )
    return result


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: |accuracy − confidence| per equal-width confidence bin, weighted."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties halved (Mann–Whitney)."""
    ranks = np.argsort(np.argsort(np.concatenate([positive, negative]), kind="stable")) + 1.0
    return float(
        (ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative))
    )


def evaluate(predictor, sets: dict) -> dict:
    """Per cell: accuracy, failures, confidence, ECE, and the share the digit check rejects at its default
    threshold (`rejected`: real digits said to be no digit; for the non-digit cell, the share caught)."""
    scores: dict[str, dict] = {}
    confidences: dict[str, np.ndarray] = {}
    threshold = reading.ReadOptions().threshold()
    for name, (images, labels, ok) in sets.items():
        probs = predictor.predict_proba(images)
        confidence = np.where(ok, probs.max(axis=1), 0.0)
        confidences[name] = confidence
        checked = predictor.digit_scores(images)
        rejected = round(float((checked < threshold)[ok].mean()), 4) if checked is not None and ok.any() else None
        if name.startswith("nondigit"):
            scores[name] = {"mean_confidence": round(float(confidence.mean()), 4), "rejected": rejected}
            continue
        correct = ok & (probs.argmax(axis=1) == labels)
        scores[name] = {
            "accuracy": round(float(correct.mean()), 4),
            "failed": int((~ok).sum()),
            "mean_confidence": round(float(confidence.mean()), 4),
            "ece": round(ece(confidence, correct), 4),
            "rejected": rejected,
            "count": len(labels),
        }
    middle = [scores[f"{c}/2"]["accuracy"] for c in corruptions.CORRUPTIONS]
    digit_conf, other_conf = confidences["clean/1"], confidences["nondigit/letters+scribbles"]
    summary = {
        "mnist_accuracy": scores["mnist/raw"]["accuracy"],
        "mnist_ece": scores["mnist/raw"]["ece"],
        "clean_rendered_accuracy": scores["clean/1"]["accuracy"],
        **{
            f"mean_severity_{s}": round(
                float(np.mean([scores[f"{c}/{s}"]["accuracy"] for c in corruptions.CORRUPTIONS])), 4
            )
            for s in corruptions.SEVERITIES
        },
        "worst_middle": min(zip(middle, corruptions.CORRUPTIONS))[1],
        "lowres_10px": scores["lowres/3"]["accuracy"],
        "lowres_8px": scores["lowres/8px"]["accuracy"],
        "uci_8x8": scores["other/uci-8x8"]["accuracy"],
        "typeset": scores["other/typeset"]["accuracy"],
        "mean_ece_middle": round(float(np.mean([scores[f"{c}/2"]["ece"] for c in corruptions.CORRUPTIONS])), 4),
        "nondigit_auroc": round(auroc(digit_conf, other_conf), 4),
        "nondigit_below_0.5": round(float((other_conf < 0.5).mean()), 4),
        "clean_below_0.5": round(float((digit_conf < 0.5).mean()), 4),
        "rejected_middle": round(
            float(np.mean([scores[f"{c}/2"]["rejected"] or 0 for c in corruptions.CORRUPTIONS])), 4
        ),
        "nondigit_rejected": scores["nondigit/letters+scribbles"]["rejected"],
    }
    return {"summary": summary, "cells": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("val", "test"), default="test")
    parser.add_argument("--model", action="append", default=[], help="'bundled' (default), a run dir or a file")
    parser.add_argument("--per-cell", type=int, default=500)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    models = args.model or ["bundled"]
    sets = prepared(args.split, args.per_cell)
    results = {}
    for model in models:
        predictor = load_predictor(None if model == "bundled" else model)
        results[model] = evaluate(predictor, sets)
        s = results[model]["summary"]
        print(
            f"{model}: MNIST {s['mnist_accuracy']:.2%} (ECE {s['mnist_ece']:.2%}); middle severity "
            f"{s['mean_severity_2']:.2%} (worst {s['worst_middle']}); lowres 10 px {s['lowres_10px']:.2%}, "
            f"8 px {s['lowres_8px']:.2%}; UCI {s['uci_8x8']:.2%}; typeset {s['typeset']:.2%}; "
            f"non-digit AUROC {s['nondigit_auroc']:.3f}"
        )
    write_result(
        args.name or f"robustness_{args.split}",
        {
            "command": command(),
            "split": args.split,
            "per_cell": args.per_cell,
            "corruptions": {name: fn.__doc__.strip().splitlines()[0] for name, fn in corruptions.CORRUPTIONS.items()},
            "models": results,
        },
    )


if __name__ == "__main__":
    main()
