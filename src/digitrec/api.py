"""The Python API, for notebooks and scripts (re-exported by `import digitrec`):

    rec = digitrec.load()                  # the bundled model; or a run dir, .keras, .onnx, ensemble dir
    results = rec.predict(inputs)          # list of Prediction, in order
    r = results[0]; r.digit, r.confidence, r.probabilities, r.not_digit
    p = rec.predict_proba(x)               # MNIST-format uint8 (N, 28, 28) or float (N, 28, 28, 1) → (N, 10)
    number = rec.read_number(image)        # number.digits: a multi-digit number, left to right
    run = digitrec.train(preset="fast", data="mnist", out="runs/x")
    metrics = digitrec.evaluate(run)       # the same metrics, plots and report as the CLI

Everything goes through the same code as the CLI: images in any form are prepared like image files,
and bad input raises the project's own errors (`digitrec.DataError`, …) with the CLI's one-line messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from digitrec.errors import ConfigError, DataError
from digitrec.predict import iter_recognize, recognize
from digitrec.predict.reading import Failure, Prediction, ProbabilityModel, ReadOptions, Source, file_kind, is_stream

if TYPE_CHECKING:
    from digitrec.inference.reader import NumberReader

_ONE = (str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray)


class Recognizer:
    """A loaded model (one, an ensemble, Keras or ONNX) and what you can ask of it."""

    def __init__(
        self, predictor: ProbabilityModel, reader: str | os.PathLike | None = None, threads: int | None = None
    ):
        self.predictor = predictor
        self.reader_source, self.threads = reader, threads
        self._reader: NumberReader | None = None

    @property
    def reader(self) -> NumberReader:
        """The number reader `read_number` uses (loaded on first use: the bundled one unless given)."""
        if self._reader is None:
            from digitrec.inference.reader import load_reader  # noqa: PLC0415

            self._reader = load_reader(self.reader_source, self.threads)
        return self._reader

    @property
    def name(self) -> str:
        return str(self.predictor.name)

    def __repr__(self) -> str:
        return f"<digitrec.Recognizer {self.name!r}>"

    def predict(
        self,
        inputs: Source | Iterable[Source],
        *,
        tta: bool = False,
        min_confidence: float | None = None,
        reject: float | None = None,
    ) -> list[Prediction]:
        """The digit in each input: image file paths, image bytes, binary file objects, PIL images or numpy
        arrays (one image each, any size and polarity), IDX or Kaggle CSV paths (one answer per image inside,
        with its `index`). A single input may be given without a list. The first input that cannot be read,
        or has no ink (an empty canvas inside an IDX/CSV file too), raises `DataError` (inputs are read in
        batches of up to 256, so a generator may have been advanced past it). `min_confidence` in (0, 1]
        flags answers below it (`uncertain`). Images that do not look like a digit at all get
        `not_digit=True` (their `digit` is then only the guess): `reject` is the digit-check score below
        which that is said (None: the bundled threshold, which keeps 99 % of real digits; 0: no check)."""
        options = ReadOptions(tta=tta, min_confidence=min_confidence, reject=reject)
        if isinstance(inputs, _ONE) or is_stream(inputs):
            inputs = [inputs]  # type: ignore[list-item]
        elif not isinstance(inputs, Iterable):
            raise DataError(f"predict takes an image, a path, bytes or a list of them, not a {type(inputs).__name__}")
        results = iter_recognize(inputs, self.predictor, options)
        return [_answered(result) for result in results]

    def predict_proba(self, images: np.ndarray, *, tta: bool = False) -> np.ndarray:
        """(N, 10) probabilities for images already in MNIST format: uint8 (N, 28, 28) with light ink on black,
        or float (N, 28, 28, 1) in [0, 1]."""
        return self.predictor.predict_proba(images, tta=tta)

    def read_number(self, image: Source, *, tta: bool = False, reject: float | None = None) -> Prediction:
        """A number written in a row (spaced, touching or overlapping digits; plain, ruled or squared paper;
        a form's boxes), read by the number reader: `.digits` (a string), `.confidence` (the calibrated
        probability that the whole number is right) and `.parts` (a Prediction per digit). Each part's
        `not_digit` says whether that position looks like a digit at all, and the number's whether none
        does (`reject` as for `predict`). `tta` has no effect on numbers."""
        if not (isinstance(image, _ONE) or is_stream(image)):
            raise DataError(f"read_number takes one image, got {type(image).__name__}")
        if isinstance(image, str | os.PathLike) and file_kind(Path(image)) != "image":
            raise DataError(f"{image}: an IDX or CSV file holds one digit per image; read it with predict")
        options = ReadOptions(multi=True, tta=tta, reject=reject)
        (result,) = recognize([image], self.predictor, options, reader=self.reader)
        return _answered(result)


def _answered(result: Prediction | Failure) -> Prediction:
    if isinstance(result, Failure):
        raise DataError(result.error)
    return result


def load(
    source: str | os.PathLike | None = None,
    *,
    threads: int | None = None,
    reader: str | os.PathLike | None = None,
) -> Recognizer:
    """A model file (.keras or .onnx), a run directory or an ensemble run directory; None: the bundled
    model (on ONNX Runtime when it is installed, so TensorFlow never starts). `reader`: the number reader
    for `read_number` (a .onnx or .keras file; None: the bundled one)."""
    from digitrec.inference import load_predictor  # noqa: PLC0415 (keeps `import digitrec` light)

    return Recognizer(load_predictor(source, threads=threads), reader, threads)


def train(
    preset: str | os.PathLike = "fast",
    data: str | None = None,
    out: str | os.PathLike = "runs/notebook",
    *,
    epochs: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    ensemble: int = 1,
    distribute: str = "none",
    devices: int | None = None,
    verbose: int | None = None,
    **changes: Any,
) -> Path:
    """Train a preset (`seed`, `fast`, `best`, `robust`) or a recipe JSON file into the new run directory
    `out`, as `digitrec train` does; `changes` override recipe fields (e.g. batch_size=64). Returns the run's path.
    `data`: `mnist`, `mnist:DIR` or `kaggle:DIR` (default: $DIGITREC_DATA, else the MNIST download).
    `distribute`: `mirrored` (over `devices` of this machine) or `multiworker` (docs/scaling.md; on a
    worker other than the chief the returned path is its private copy, deleted when the process exits)."""
    from digitrec import training  # noqa: PLC0415 (starts Keras)
    from digitrec.training.plan import plan_run  # noqa: PLC0415

    run, dataset, fresh = plan_run(
        preset,
        data,
        out,
        changes={"epochs": epochs, **changes},
        seed=seed,
        limit=limit,
        members=ensemble,
        distribute=distribute,
        devices=devices,
    )
    training.start(run, dataset, fresh, verbose=verbose)
    return run.path


def evaluate(run: str | os.PathLike, *, split: str = "auto", tta: bool = False, data: str | None = None) -> dict:
    """Score a run as `digitrec evaluate` does (metrics.json, curves, confusion matrix, worst errors and
    report.md written into it) and return the metrics. `data` (`mnist`, `mnist:DIR` or `kaggle:DIR`) scores it
    on another data set; by default on the one it was trained on."""
    from digitrec.data import load_dataset  # noqa: PLC0415
    from digitrec.evaluation.report import evaluate_run  # noqa: PLC0415

    if not isinstance(run, str | os.PathLike) or not os.fspath(run):
        raise ConfigError(f"evaluate takes a run directory's path, not {type(run).__name__} {run!r:.40}")
    return evaluate_run(run, load_dataset(data) if data else None, split=split, tta=tta)
