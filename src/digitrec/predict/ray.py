"""The Ray engine: the local engine's work (`jobs.py`) spread over a Ray cluster with Ray Data.

The driver reads the inputs as the local engine does (same checks, same chunks, same failures) and ships
each piece as bytes: a chunk of an IDX/CSV file as its pixels, a user image as its file's bytes (so the
workers need no shared file system). `map_batches` runs them on a pool of actors, each loading the model
once and running ONNX Runtime on one thread; preparing user images happens there too. The driver turns
the probabilities into answers with `reading.answers`, in input order: output is identical to the local
engine's.

Without `address` a Ray instance starts on this machine, bound to 127.0.0.1 only (Ray would otherwise
advertise and listen on the machine's external address); with one, the workers of that cluster are used.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from itertools import islice
from typing import Any

import numpy as np

from digitrec.errors import ConfigError, DataError, DigitrecError, ModelError, first_line
from digitrec.fileio import check_regular, read_capped
from digitrec.imaging.loading import MAX_FILE_BYTES
from digitrec.inference import needs_keras
from digitrec.inference.ctc import Reading
from digitrec.inference.reader import NumberReader, load_reader
from digitrec.predict.jobs import BlankImages, Chunk, UserImage, jobs
from digitrec.predict.numbers import number_answer, part_scores
from digitrec.predict.reading import (
    Failure,
    Prediction,
    ReadOptions,
    Source,
    answers,
    failure,
    judge,
    prepare_image,
    prepare_line,
)
from digitrec.rundir import model_files
from digitrec.runtime.quiet import stderr_silenced

REACH_TIMEOUT = 10.0  # seconds for a cluster's address to accept a connection
WINDOW = 128  # pieces per Ray Data job (one actor pool each): up to 128 × 4096 images, ~400 MB in flight


class _ModelActor:
    """One model per actor; called on batches of pieces, returns probabilities or an error per piece, or
    the model's own error (which the driver raises)."""

    def __init__(self, model: str | None, options: ReadOptions, reader: str | None = None):
        from digitrec.inference import load_predictor  # noqa: PLC0415 (runs on a Ray worker)

        # A model that cannot load is reported, not raised: raised here, Ray logs pages of "actors died"
        # and the driver sees an ActorDiedError rather than the one-line reason.
        self.predictor, self.model_error = None, ""
        try:
            self.predictor = load_predictor(model, threads=1)
        except DigitrecError as exc:
            self.model_error = str(exc)
        self.options, self.multi = options, options.multi
        self.reader_path = reader
        self.reader: NumberReader | None = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probabilities, errors, widths = [], [], []
        for kind, payload, name in zip(batch["kind"], batch["payload"], batch["file"]):
            widths.append(0)
            if self.predictor is None:
                probabilities.append(b"")
                errors.append("")
                continue
            try:
                if kind == "pixels":
                    images = np.frombuffer(payload, np.uint8).reshape(-1, 28, 28)
                elif self.multi:  # a number: its reading, as JSON
                    if self.reader is None:
                        self.reader = load_reader(self.reader_path, threads=1)
                    line = prepare_line(bytes(payload), str(name))
                    reading = self.reader.read([line])[0]
                    scores = part_scores(line, reading, self.predictor, self.options)
                    probabilities.append(json.dumps({**asdict(reading), "scores": scores}).encode())
                    errors.append("")
                    continue
                else:
                    images = prepare_image(bytes(payload), str(name))
                judged = judge(self.predictor, images, self.options)
                probabilities.append(judged.tobytes())
                widths[-1] = judged.shape[1]
                errors.append("")
            except DigitrecError as exc:  # a bad input, or a model that fails on it: that input's failure
                probabilities.append(b"")
                errors.append(failure(str(name), exc).error)
        return {
            "seq": batch["seq"],
            "probabilities": np.array(probabilities, dtype=object),
            "error": np.array(errors, dtype=object),
            "width": np.array(widths, dtype=np.int64),
            "model_error": np.array([self.model_error] * len(errors), dtype=object),
        }


def _start(address: str | None, workers: int, temp_dir: str | None) -> tuple[Any, bool]:
    """Ray, imported and initialised; whether this call started it (and must shut it down)."""
    if address is None:
        # Read by Ray when imported: a single-machine Ray binds and advertises 127.0.0.1 only.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    else:
        _check_reachable(address)
    try:
        import ray  # noqa: PLC0415 (the [distributed] extra)
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'digitrec[distributed]'") from None
    if ray.is_initialized():
        return ray, False
    options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
    if address is None:
        options.update(num_cpus=workers, _node_ip_address="127.0.0.1", _temp_dir=temp_dir)
    else:
        options["address"] = address
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # the C++ core's warnings are not digitrec's output
    try:
        with stderr_silenced():  # its start-up notices ("Token authentication is enabled …") neither
            ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot start or join Ray ({address or 'local'}): {first_line(exc)}") from None
    context = ray.data.DataContext.get_current()  # importing ray.data configures its loggers: quiet them after
    for name in ("ray", "ray.data"):  # Ray's progress and deprecation chatter is not digitrec's output
        logging.getLogger(name).setLevel(logging.ERROR)
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray, True


def _check_reachable(address: str) -> None:
    """`ray.init` retries an address where nothing answers for minutes, silently (its messages go to the
    stderr silenced above): a cluster that is not there is one line, within seconds."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT) as sock:
            answered = _speaks_grpc(sock)
    except (OSError, OverflowError) as exc:
        raise ConfigError(f"cannot reach Ray at {address}: {getattr(exc, 'strerror', None) or exc}") from None
    if not answered:
        raise ConfigError(f"{address} answers, but not as Ray does (no gRPC handshake within {REACH_TIMEOUT:g} s)")


def _speaks_grpc(sock: socket.socket) -> bool:
    """Whether the server answers HTTP/2's client preface with a SETTINGS frame, as Ray's gRPC servers (the
    GCS, the Ray client server) do at once; a port that accepts and stays silent made `ray.init` wait for
    minutes. Bounded by the socket's timeout."""
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    head = b""
    try:
        while len(head) < 9 and (data := sock.recv(9 - len(head))):
            head += data
    except TimeoutError:
        return False
    return len(head) == 9 and head[3] == 0x04  # a frame header whose type is SETTINGS


def _piece(seq: int, job: Chunk | UserImage) -> dict[str, Any]:
    if isinstance(job, Chunk):
        return {"seq": seq, "kind": "pixels", "payload": job.images.tobytes(), "file": job.file}
    source = job.source
    if isinstance(source, (str, os.PathLike)):
        payload = read_capped(source, MAX_FILE_BYTES, "image file")
    elif isinstance(source, (bytes, bytearray)):
        payload = bytes(source)
    else:
        raise DataError(f"{job.file}: the Ray engine reads image files and bytes, not a {type(source).__name__}")
    return {"seq": seq, "kind": "image", "payload": payload, "file": job.file}


def iter_recognize_ray(
    sources: Iterable[Source],
    model: str | None = None,
    *,
    workers: int = 2,
    address: str | None = None,
    options: ReadOptions = ReadOptions(),
    reader: str | None = None,
    temp_dir: str | None = None,
    window: int = WINDOW,
) -> Iterator[Prediction | Failure]:
    """`digitrec.predict.iter_recognize`, on Ray: the same answers in the same order."""
    _check_model(model)
    ray, started = _start(address, workers, temp_dir)
    try:
        pending, blanks = iter(jobs(sources)), BlankImages()
        while batch := list(islice(pending, window)):
            pieces: list[dict[str, Any]] = []
            for seq, job in enumerate(batch):
                if isinstance(job, Failure):
                    continue
                try:
                    pieces.append(_piece(seq, job))
                except DataError as exc:
                    batch[seq] = failure(job.file, exc)
            done = {}
            if pieces:
                dataset = ray.data.from_items(pieces).map_batches(
                    _ModelActor,
                    fn_constructor_kwargs={
                        "model": model,
                        "options": options,
                        "reader": reader,
                    },
                    batch_size=1,
                    batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=min(workers, len(pieces))),
                    num_cpus=1,
                )
                done = {int(row["seq"]): row for row in dataset.iter_rows()}
                if broken := next((row["model_error"] for row in done.values() if row["model_error"]), None):
                    raise ModelError(str(broken))
            yield from _answered(batch, done, blanks, options)
        yield from blanks.end()
    finally:
        if started:
            ray.shutdown()


def _reading(data: bytes) -> tuple[Reading, list[float] | None]:
    found = json.loads(data)
    top3 = [[tuple(t) for t in d] for d in found["top3"]]
    return Reading(found["digits"], found["confidences"], found["probability"], top3, found["columns"]), found["scores"]


def _check_model(model: str | None) -> None:
    """The model's files are there, checked here (without loading it: no backend on the driver) rather
    than failing in every actor after the cluster has started."""
    if model is None:
        return
    if not model:
        raise ModelError("the model path is empty (leave it out for the bundled model)")
    if not needs_keras(model):  # an .onnx file
        check_regular(model, "model file", ModelError)
    else:
        model_files(model)


def _answered(batch: list, done: dict, blanks: BlankImages, options: ReadOptions) -> Iterator[Prediction | Failure]:
    for seq, job in enumerate(batch):
        if isinstance(job, Failure):
            yield from blanks.end(job)
            continue
        row = done[seq]
        if row["error"]:
            yield from blanks.end(Failure(job.file, str(row["error"])))
            continue
        if options.multi and not isinstance(job, Chunk):
            yield from blanks.end()
            reading, scores = _reading(row["probabilities"])
            yield number_answer(job.file, reading, options, scores)
            continue
        probabilities = np.frombuffer(row["probabilities"], np.float32).reshape(-1, int(row["width"]))
        if isinstance(job, Chunk):
            yield from blanks.answers(job, probabilities, options)
        else:
            yield from blanks.end()
            yield from answers(job.file, probabilities, options)
