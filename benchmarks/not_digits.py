"""Not a digit: how well each candidate score tells real digits from things that are not digits.

Positives (real digits): MNIST as it is (validation half: the bundled classifier's 6,000 validation
digits; test half: the 10,000 MNIST test digits), photo-like renderings of the same digits (paper,
light, noise, blur) and clean scans of them (enlarged, dark on white), and typeset digits in the half's
fonts. Negatives: every kind of `digitrec.data.negatives`, near (letters, symbols,
scribbles, pieces of digits, pairs of digits) and far (noise, textures, natural photos), from the half's
own material (test: fonts, symbols and photos never drawn for training or validation). Every image that
is not MNIST already goes through the preparation a user's photo gets; one it refuses ("no ink found")
counts as rejected for a negative and as lost for a digit, whatever the score.

Candidates, each a score that is high for digits:
    msp          the bundled classifier's (calibrated) maximum probability
    energy       logsumexp of its logits (Liu et al. 2020)
    mahalanobis  minus the smallest Mahalanobis distance of its penultimate features to a class mean,
                 shared covariance, fitted on 20,000 MNIST training digits (Lee et al. 2018)
    check        the digit check, trained with outliers (`digitrec.nets.digit_check`)

Per candidate and kind: AUROC, the false-positive rate at 95 % of digits kept, the share rejected at
99 % of digits kept. For the check at its default threshold: digits kept per source, non-digits
rejected per kind, and MNIST accuracy and calibration error of the accepted answers. Select on
`--half val`; `--half test` reports every candidate once.

    python benchmarks/not_digits.py [--half val|test] [--per-kind 500] [--check FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import contextlib

import numpy as np
from sklearn.metrics import roc_auc_score

from digitrec import bundled, imaging
from digitrec.data import load_dataset, negatives, prepare
from digitrec.errors import DataError
from digitrec.inference import load_predictor
from digitrec.inference.digit_check import default_threshold, load_digit_check
from digitrec.training.digit_check import photographed, scanned
from digitrec.training.reader import calibration_error

from _common import command, data_spec, machine, write_result

CANDIDATES = ("msp", "energy", "mahalanobis", "check")
REFUSED = -np.inf  # the score of an image the preparation refuses: rejected by every candidate


def prepared(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Photos → MNIST form, and which of them the preparation accepted."""
    out, ok = np.zeros((len(images), 28, 28), np.uint8), np.zeros(len(images), bool)
    for i, grey in enumerate(images):
        with contextlib.suppress(DataError):
            out[i], ok[i] = imaging.to_mnist(grey), True
    return out, ok


def sets(half: str, per_kind: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """name → (MNIST-form images, accepted mask, labels or None). Positives first, then negatives."""
    data = load_dataset(data_spec("mnist"))
    split = prepare.split(data.x_train, data.y_train, 0.1, seed=0)  # the bundled classifier's split
    digits, labels = (split.x_val, split.y_val) if half == "val" else (data.x_test, data.y_test)
    rng = np.random.default_rng([seed, half == "test"])
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {
        "mnist": (digits, np.ones(len(digits), bool), labels)
    }
    picks = rng.choice(len(digits), 2000, replace=False)
    out["photos"] = (*prepared([photographed(digits[i], rng) for i in picks]), labels[picks])
    picks = rng.choice(len(digits), 2000, replace=False)
    out["scans"] = (*prepared([scanned(digits[i], rng) for i in picks]), labels[picks])
    typeset = rng.integers(0, 10, 1000)
    out["typeset"] = (*prepared([negatives.typeset(str(d), rng, half) for d in typeset]), typeset)
    for kind in negatives.KINDS:
        images = [negatives.draw(kind, rng, half, split.x_val) for _ in range(per_kind)]
        out[kind] = (*prepared(images), None)
    return out


class Scorer:
    """The candidates' scores for MNIST-form images."""

    def __init__(self, check_path: str | None):
        import keras

        from digitrec.inference.keras_model import load_keras_model

        self.predictor = load_predictor()  # the bundled classifier, as users get it (ONNX)
        model = load_keras_model(bundled.KERAS)
        self.features = keras.Model(model.inputs, [model.get_layer("flatten").output, model.get_layer("dense").output])
        self.check = load_digit_check(check_path)
        data = load_dataset(data_spec("mnist"), with_test=False)
        train = prepare.split(data.x_train, data.y_train, 0.1, seed=0)
        feats, _ = self._keras(train.x_train[:20000])
        classes = train.y_train[:20000]
        self.means = np.stack([feats[classes == c].mean(0) for c in range(10)])
        centred = feats - self.means[classes]
        self.precision = np.linalg.pinv(np.cov(centred.T) + 1e-6 * np.eye(feats.shape[1]))

    def _keras(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, logits = self.features.predict(images[..., None] / 255.0, batch_size=1000, verbose=0)
        return np.asarray(feats, np.float64), np.asarray(logits, np.float64)

    def scores(self, images: np.ndarray) -> dict[str, np.ndarray]:
        probabilities = self.predictor.predict_proba(images)
        feats, logits = self._keras(images)
        top = logits.max(1, keepdims=True)
        deltas = feats[:, None, :] - self.means[None]
        distances = np.einsum("ncd,de,nce->nc", deltas, self.precision, deltas)
        return {
            "msp": probabilities.max(1),
            "energy": (top[:, 0] + np.log(np.exp(logits - top).sum(1))),
            "mahalanobis": -distances.min(1),
            "check": self.check.scores(images),
            "_probabilities": probabilities,
        }


def numbers(scorer: Scorer, half: str, count: int, seed: int, threshold: float) -> dict:
    """The number reader with the check on each digit it reads: real numbers (composed from the half's
    digits, every kind but long rows) against rows of letters, symbols and scribbles."""
    from digitrec.data.lines import KINDS, compose
    from digitrec.inference.reader import load_reader
    from digitrec.predict.numbers import number_answer, part_scores
    from digitrec.predict.reading import ReadOptions

    data = load_dataset(data_spec("mnist"))
    split = prepare.split(data.x_train, data.y_train, 0.1, seed=0)
    digits, labels = (split.x_val, split.y_val) if half == "val" else (data.x_test, data.y_test)
    rng = np.random.default_rng([seed, half == "test", 1])
    reader, options = load_reader(), ReadOptions(reject=threshold)
    scorer.predictor.check = scorer.check.scores
    kinds = [k for k in KINDS if k != "long"]
    found: dict[str, list] = {"number": [], "row": []}
    parts: dict[str, list[float]] = {"number": [], "row": []}
    for i in range(2 * count):
        if i < count:
            picks = rng.integers(0, len(digits), int(rng.integers(1, 9)))
            grey = compose(digits[picks], labels[picks], kinds[i % len(kinds)], rng).image
        else:
            grey = negatives.row(rng, half)
        try:
            line = imaging.to_line(grey)
        except DataError:
            continue
        reading = reader.read([line])[0]
        scores = part_scores(line, reading, scorer.predictor, options)
        answer = number_answer("line", reading, options, scores)
        parts["number" if i < count else "row"] += scores or []
        found["number" if i < count else "row"].append(
            (bool(answer.not_digit), any(part.not_digit for part in answer.parts))
        )
    real, rows = np.array(found["number"]), np.array(found["row"])
    return {
        "lines": {"numbers": len(real), "rows_of_non_digits": len(rows)},
        "numbers_said_not_a_number": round(float(real[:, 0].mean()), 4),
        "numbers_with_a_position_flagged": round(float(real[:, 1].mean()), 4),
        "rows_said_not_a_number": round(float(rows[:, 0].mean()), 4),
        "rows_with_a_position_flagged": round(float(rows[:, 1].mean()), 4),
        "pieces": separation(np.array(parts["number"]), np.array(parts["row"])),
        "pieces_threshold_keeping_99": round(float(np.quantile(parts["number"], 0.01)), 4),
    }


def single_image_times(scorer: Scorer, images: np.ndarray) -> dict[str, float]:
    """Median milliseconds for one image: the classifier and the check, each on ONNX Runtime, interleaved."""
    times: dict[str, list[float]] = {"classifier": [], "check": []}
    for image in images:
        for name, run in (("classifier", scorer.predictor.predict_proba), ("check", scorer.check.scores)):
            started = time.perf_counter()
            run(image[None])
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(float(np.median(values)), 3) for name, values in times.items()}


def separation(pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
    finite = np.concatenate([pos, neg])
    floor = finite[np.isfinite(finite)].min() - 1 if np.isfinite(finite).any() else 0.0
    pos, neg = np.where(np.isfinite(pos), pos, floor), np.where(np.isfinite(neg), neg, floor)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return {
        "auroc": round(float(roc_auc_score(y, np.r_[pos, neg])), 4),
        "fpr_at_95_kept": round(float((neg >= np.quantile(pos, 0.05)).mean()), 4),
        "rejected_at_99_kept": round(float((neg < np.quantile(pos, 0.01)).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=("val", "test"), default="val")
    parser.add_argument("--per-kind", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lines", type=int, default=400, help="real numbers, and as many rows of non-digits")
    parser.add_argument("--check", help="a digit check (.onnx/.keras; default: the bundled one)")
    parser.add_argument("--threshold", type=float, help="the check's threshold (default: the bundled one's)")
    args = parser.parse_args()
    started = time.time()
    made = sets(args.half, args.per_kind, args.seed)
    scorer = Scorer(args.check)
    scored = {}
    for name, (images, ok, _) in made.items():
        found = scorer.scores(images)
        scored[name] = {k: np.where(ok, v, REFUSED) if k != "_probabilities" else v for k, v in found.items()}
    positives = ("mnist", "photos", "scans", "typeset")
    groups = {"near": negatives.NEAR, "far": negatives.FAR, "all": negatives.KINDS}
    result: dict = {"candidates": {}}
    for candidate in CANDIDATES:
        pos = np.concatenate([scored[p][candidate] for p in positives])
        by_kind = {kind: separation(pos, scored[kind][candidate]) for kind in negatives.KINDS}
        for group, kinds in groups.items():
            by_kind[group] = separation(pos, np.concatenate([scored[k][candidate] for k in kinds]))
        result["candidates"][candidate] = by_kind
        print(candidate, {g: by_kind[g] for g in groups})
    threshold = args.threshold
    if threshold is None:  # the check's own, recorded beside it
        meta = Path(args.check).with_suffix(".json") if args.check else None
        threshold = json.loads(meta.read_text())["threshold"] if meta else default_threshold()
    kept = {p: round(float((scored[p]["check"] >= threshold).mean()), 4) for p in positives}
    rejected = {k: round(float((scored[k]["check"] < threshold).mean()), 4) for k in negatives.KINDS}
    for group, kinds in groups.items():
        rejected[group] = round(float(np.mean(np.concatenate([scored[k]["check"] < threshold for k in kinds]))), 4)
    images, _, labels = made["mnist"]
    accepted = scored["mnist"]["check"] >= threshold
    probabilities = scored["mnist"]["_probabilities"]
    right = probabilities.argmax(1) == labels
    result["default_threshold"] = {
        "threshold": threshold,
        "digits_kept": kept,
        "digits_kept_all": round(
            float(np.mean(np.concatenate([scored[p]["check"] >= threshold for p in positives]))), 4
        ),
        "rejected": rejected,
        "mnist_accuracy_all": round(float(right.mean()), 5),
        "mnist_accuracy_accepted": round(float(right[accepted].mean()), 5),
        "mnist_ece_accepted": calibration_error(probabilities[accepted].max(1), right[accepted]),
        "mnist_errors_rejected": int((~right & ~accepted).sum()),
    }
    print(result["default_threshold"])
    result["numbers"] = numbers(scorer, args.half, args.lines, args.seed, threshold)
    print(result["numbers"])
    result["ms_per_image"] = single_image_times(scorer, made["mnist"][0][:200])
    print(result["ms_per_image"])
    result["sizes"] = {name: len(v[0]) for name, v in made.items()}
    result["refused_by_preparation"] = {name: int((~v[1]).sum()) for name, v in made.items()}
    write_result(
        f"not_digits_{args.half}",
        {
            "command": command(),
            "half": args.half,
            "seed": args.seed,
            "check": args.check or "bundled",
            "machine": machine(),
            "seconds": round(time.time() - started, 1),
            **result,
        },
    )


if __name__ == "__main__":
    main()
