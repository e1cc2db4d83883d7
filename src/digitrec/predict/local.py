"""The local engine: inputs of any number and size answered in order, in bounded memory. Large files are
read in chunks (`jobs.py`); user images are prepared here and sent to the model in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from digitrec.errors import DataError
from digitrec.inference.reader import NumberReader, load_reader
from digitrec.predict.jobs import CHUNK, BlankImages, Chunk, UserImage, jobs
from digitrec.predict.numbers import number_answer, part_scores
from digitrec.predict.reading import (
    Failure,
    Prediction,
    ProbabilityModel,
    ReadOptions,
    Source,
    answers,
    failure,
    judge,
    prepare_image,
    prepare_line,
)

BATCH = 256  # user images prepared before the model runs on all of them at once


def iter_recognize(
    sources: Iterable[Source],
    predictor: ProbabilityModel,
    options: ReadOptions = ReadOptions(),
    *,
    chunk: int = CHUNK,
    reader: NumberReader | None = None,
) -> Iterator[Prediction | Failure]:
    """Answer every input, in order; an input that fails is a `Failure` in its place (a file failing
    part-way: its answers so far, then the failure). With `options.multi`, user images are numbers, read
    by `reader` (default: the bundled number reader, loaded on first use)."""
    pending: list[tuple[UserImage, np.ndarray] | Failure] = []
    numbers: list[NumberReader] = [reader] if reader is not None else []

    def flush() -> Iterator[Prediction | Failure]:
        prepared = [item[1] for item in pending if not isinstance(item, Failure)]
        if options.multi and prepared and not numbers:
            numbers.append(load_reader())
        if options.multi:
            read = numbers[0].read(prepared) if prepared else []
            readings = iter([(r, part_scores(line, r, predictor, options)) for line, r in zip(prepared, read)])
        else:
            probabilities = judge(predictor, np.concatenate(prepared), options) if prepared else np.zeros((0, 10))
        start = 0
        for item in pending:
            if isinstance(item, Failure):
                yield item
                continue
            job, images = item
            if options.multi:
                reading, scores = next(readings)
                yield number_answer(job.file, reading, options, scores)
                continue
            yield from answers(job.file, probabilities[start : start + len(images)], options)
            start += len(images)
        pending.clear()

    blanks = BlankImages()
    for job in jobs(sources, chunk):
        if isinstance(job, Chunk):  # a chunk of a large file: answered at once
            yield from flush()
            yield from blanks.answers(job, judge(predictor, job.images, options), options)
            continue
        pending.extend(blanks.end(job if isinstance(job, Failure) else None))  # a file's chunks end here
        if not isinstance(job, Failure):
            try:
                prepare = prepare_line if options.multi else prepare_image
                pending.append((job, prepare(job.source, job.file)))
            except DataError as exc:
                pending.append(failure(job.file, exc))
        if len(pending) >= BATCH:
            yield from flush()
    pending.extend(blanks.end())
    yield from flush()


def recognize(
    sources: Iterable[Source],
    predictor: ProbabilityModel,
    options: ReadOptions = ReadOptions(),
    reader: NumberReader | None = None,
) -> list[Prediction | Failure]:
    """`iter_recognize`, collected."""
    return list(iter_recognize(sources, predictor, options, reader=reader))
