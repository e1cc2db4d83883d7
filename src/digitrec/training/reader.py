"""Train the number reader (`digitrec.nets.reader`) into a resumable run directory, then score it on the
validation lines, calibrate its whole-number confidence there and export its ONNX twin.

    config.json     {"kind": "number-reader", epochs, lines (per epoch), val_lines, seed, lr, data}
    val_lines.npz   the validation lines (made once; training lines are fresh each epoch: `reader_lines.py`)
    checkpoint.keras + state.json   after every epoch (state.json last: the commit point)
    model.keras · reader.onnx · reader.json   at the end (reader.json: calibration, accuracy, history)

`digitrec train --number-reader --out RUN` and `scripts/train_number_reader.py` both end here.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from digitrec.errors import ConfigError, ModelError
from digitrec.fileio import atomic_path, one_writer, read_json, write_json
from digitrec.inference.ctc import Reading
from digitrec.inference.reader import NumberReader
from digitrec.runtime.provenance import versions
from digitrec.training import reader_lines
from digitrec.training.reader_lines import Lines

KIND = "number-reader"
# `init`: a reader (.keras) whose weights the run starts from (fresh lines, a lower rate: fine-tuning).
DEFAULTS = {"epochs": 24, "lines": 40_000, "val_lines": 3_000, "seed": 0, "lr": 2e-3, "data": None, "init": None}


def is_reader_run(path: str | Path) -> bool:
    config = Path(path) / "config.json"
    try:
        return config.is_file() and read_json(config, what="run config").get("kind") == KIND
    except Exception:  # noqa: BLE001 (a damaged config is the classifier's resume to report)
        return False


def start(out: str | Path, **settings: Any) -> Path:
    """A new reader run in the empty or missing directory `out`; `settings` override `DEFAULTS`."""
    out = Path(out)
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown number-reader settings: {', '.join(sorted(unknown))}")
    given = {k: v for k, v in settings.items() if v is not None}
    if "lines" in given and "val_lines" not in given:  # a small run validates on a tenth as many lines
        given["val_lines"] = min(3_000, max(64, int(given["lines"]) // 10))
    config = {**DEFAULTS, **given, "kind": KIND}
    for key in ("epochs", "lines", "val_lines"):
        if type(config[key]) is not int or config[key] < 1:
            raise ConfigError(f"{key} must be a positive integer, got {config[key]!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty directory (resume it with --resume, or pick another)")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {**config, "versions": versions("onnxruntime")})
    return complete(out)


def complete(out: str | Path) -> Path:
    """Train a reader run from wherever it stopped: lines not yet made, mid-way, or finished but for its
    final files; one process at a time."""
    out = Path(out)
    with one_writer(out, "number reader"):
        _complete(out)
    return out


def _complete(out: Path) -> None:
    config = read_json(out / "config.json", what="run config")
    needed = ("epochs", "lines", "val_lines", "seed", "lr")
    missing = [key for key in needed if key not in config] if isinstance(config, dict) else list(needed)
    if missing:
        raise ModelError(f"{out / 'config.json'}: not a number-reader run config (missing {', '.join(missing)})")
    val_path = out / "val_lines.npz"
    with reader_lines.LineMaker(config.get("data"), reader_lines.worker_count()) as maker:
        if not val_path.is_file():
            reader_lines.save_lines(val_path, maker.submit(config["val_lines"], config["seed"], 0, True).result())
        val = reader_lines.load_lines(val_path)
        model, state = _model_and_state(out, config)
        _train(model, out, config, state, (val, maker))
    with atomic_path(out / "model.keras", suffix=".keras") as partial:
        model.save(partial)
    finish(model, out, val, state["history"], config)


def _model_and_state(out: Path, config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import keras  # noqa: PLC0415 (the backend starts here, after the checks and the lines)

    from digitrec.nets.reader import CTCLoss, build_reader  # noqa: PLC0415

    keras.utils.set_random_seed(config["seed"])
    state_path = out / "state.json"
    state: dict[str, Any] = (
        read_json(state_path, what="run state") if state_path.is_file() else {"epochs_done": 0, "history": []}
    )
    done = state.get("epochs_done") if isinstance(state, dict) else None
    if type(done) is not int or not 0 <= done <= config["epochs"] or not isinstance(state.get("history"), list):
        raise ModelError(f"{state_path}: corrupt run state {state!r:.80} (delete it to train the run over)")
    if state["epochs_done"]:
        from digitrec.inference.keras_model import check_keras_file  # noqa: PLC0415

        check_keras_file(out / "checkpoint.keras", "checkpoint")  # a FIFO, a link to /dev/zero, a zip bomb
        try:
            model = keras.models.load_model(out / "checkpoint.keras", custom_objects={"CTCLoss": CTCLoss})
        except Exception as exc:  # noqa: BLE001 (Keras raises many types for a bad file)
            raise ModelError(f"{out / 'checkpoint.keras'}: cannot load the checkpoint ({exc})") from None
    else:
        model = build_reader()
        if config.get("init"):
            from digitrec.inference.keras_model import load_keras_model  # noqa: PLC0415

            shapes = (None, 32, None, 1), (None, None, 11), "a number reader"
            model.set_weights(load_keras_model(config["init"], *shapes).get_weights())
        model.compile(keras.optimizers.Adam(config["lr"]), CTCLoss())
    return model, state


def _train(model: Any, out: Path, config: dict, state: dict, lines: tuple[Lines, reader_lines.LineMaker]) -> None:
    val, maker = lines
    steps = math.ceil(config["lines"] / reader_lines.BATCH)
    total = steps * config["epochs"]
    coming = maker.submit(config["lines"], config["seed"], state["epochs_done"] + 1, False)
    for epoch in range(state["epochs_done"], config["epochs"]):
        started, losses = time.time(), []
        train = coming.result()
        if epoch + 1 < config["epochs"]:  # the next epoch's lines are made while this one trains
            coming = maker.submit(config["lines"], config["seed"], epoch + 2, False)
        rng = np.random.default_rng(config["seed"] + epoch)
        for step, (x, y) in enumerate(reader_lines.batches(train, rng)):
            done = epoch * steps + step  # cosine from lr to zero over the run: the same on resume
            model.optimizer.learning_rate.assign(config["lr"] * 0.5 * (1 + math.cos(math.pi * done / total)))
            losses.append(float(model.train_on_batch(x, y)))
        exact = float(np.mean([r.digits == t for r, t in zip(read_lines(model, val.images), val.texts)]))
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_exact": exact, "seconds": time.time() - started}
        print(row, flush=True)  # the run's progress, one line an epoch
        with atomic_path(out / "checkpoint.keras", suffix=".keras") as partial:
            model.save(partial)
        state["epochs_done"], state["history"] = epoch + 1, [*state["history"], row]
        write_json(out / "state.json", state)


def read_lines(model: Any, images: list[np.ndarray]) -> list[Reading]:
    """The model's readings of uint8 lines, through the inference side's batching and decoding (its
    calibration left out: the path probability as it is, which `calibration` maps)."""
    columns = NumberReader(lambda batch: np.asarray(model(batch, training=False)), (1.0, 0.0), "training")
    return columns.read(reader_lines.as_floats(images))


def calibration(probability: np.ndarray, right: np.ndarray) -> tuple[list[float], dict[str, float]]:
    """Platt scaling of the best path's probability: P(right) = sigmoid(a·logit(p) + b), fitted here."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    p = np.clip(probability, 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p))[:, None]
    if right.all() or not right.any():
        return [1.0, 0.0], {"ece_raw": calibration_error(p, right)}
    fit = LogisticRegression(C=1e4).fit(logit, right)
    mapped = fit.predict_proba(logit)[:, 1]
    return [float(fit.coef_[0, 0]), float(fit.intercept_[0])], {
        "ece_raw": calibration_error(p, right),
        "ece_calibrated": calibration_error(mapped, right),
    }


def calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 15) -> float:
    which = np.clip(np.digitize(confidence, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    gaps = [abs(confidence[which == b].mean() - right[which == b].mean()) * (which == b).mean() for b in set(which)]
    return round(float(sum(gaps)), 4)


def finish(model: Any, out: Path, val: Lines, history: list[dict], config: dict) -> None:
    """Validation accuracy per kind, the calibration, the ONNX twin (checked against Keras), reader.json."""
    import onnxruntime as ort  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415 (Keras exports ONNX through TensorFlow)

    readings = read_lines(model, val.images)
    right = np.array([r.digits == t for r, t in zip(readings, val.texts)])
    calibrated, errors = calibration(np.array([r.probability for r in readings]), right)
    kinds = np.array(val.kinds)
    by_kind = {k: round(float(right[kinds == k].mean()), 4) for k in sorted(set(val.kinds))}
    spec = [tf.TensorSpec((None, 32, None, 1), tf.float32, name="line")]
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # its optimizer's progress lines
    with atomic_path(out / "reader.onnx", suffix=".onnx") as partial, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras' numpy-2 patch of tf2onnx touches np.object
        model.export(str(partial), format="onnx", input_signature=spec, opset_version=17, verbose=False)
    session = ort.InferenceSession(str(out / "reader.onnx"), providers=["CPUExecutionProvider"])
    sample = np.zeros((1, 32, max(4, val.images[0].shape[1]), 1), np.float32)
    sample[0, :, : val.images[0].shape[1], 0] = val.images[0] / 255.0
    onnx_columns = session.run(None, {session.get_inputs()[0].name: sample})[0]
    gap = float(np.abs(onnx_columns - np.asarray(model(sample, training=False))).max())
    if gap > 1e-4:
        raise ModelError(f"{out / 'reader.onnx'}: the ONNX twin differs from the Keras model by {gap:.2g}")
    meta = {
        "model": "digitrec.nets.reader.build_reader()",
        "settings": {k: config.get(k) for k in DEFAULTS},
        "calibration": calibrated,
        "validation": {"lines": len(val.images), "exact": round(float(right.mean()), 4), "exact_by_kind": by_kind},
        **errors,
        "onnx_max_difference": gap,
        "history": history,
        "versions": versions("onnxruntime", "tf2onnx"),
    }
    write_json(out / "reader.json", meta)
