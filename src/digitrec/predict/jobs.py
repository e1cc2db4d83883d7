"""The work of answering a list of inputs, in input order and in chunks: a file of many images (IDX,
Kaggle CSV) becomes its images, `chunk` at a time, already in MNIST format; a user image stays a source to
prepare (where the model runs: here, or on a Ray worker). Unreadable inputs become `Failure`s in place;
empty canvases inside a file, one `Failure` when it ends (`BlankImages`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.data.checks import uniform_images
from digitrec.data.sources import iter_images_file
from digitrec.errors import DataError
from digitrec.predict.reading import (
    Failure,
    Prediction,
    ReadOptions,
    Source,
    answers,
    failure,
    file_kind,
    source_name,
)

CHUNK = 4096  # images per chunk of a large file: ~3 MB of pixels, ~13 MB as model input


@dataclass
class Chunk:
    """Images of a multi-image file, ready for a model."""

    file: str  # the input's name, as answers carry it
    first_index: int  # the index of images[0] in its file
    images: np.ndarray  # MNIST-format uint8 (n, 28, 28)


@dataclass
class UserImage:
    """A user image, still to prepare."""

    file: str
    source: Source


Job = Chunk | UserImage


def jobs(sources: Iterable[Source], chunk: int = CHUNK) -> Iterator[Job | Failure]:
    for position, source in enumerate(sources):
        name = source_name(source, position)
        if isinstance(source, (str, os.PathLike)) and file_kind(Path(source)) != "image":
            index = 0
            try:
                for images in iter_images_file(source, chunk):
                    yield Chunk(name, index, images)
                    index += len(images)
            except DataError as exc:  # the answers before it stand; the file's error comes after them
                yield failure(name, exc)
        else:
            yield UserImage(name, source)


class BlankImages:
    """Empty canvases (one value in every pixel) inside a multi-image file: a model has no answer for one
    but guesses, confidently (an all-black image reads as a 1 at 99.5 %). They are left unanswered and
    reported in one line when the file ends, however many there are: a file of thousands is one line."""

    def __init__(self) -> None:
        self.file: str | None = None
        self.count, self.first = 0, list[int]()

    def answers(self, job: Chunk, probabilities: np.ndarray, options: ReadOptions) -> Iterator[Prediction | Failure]:
        """A chunk's answers but its empty canvases' (noted); first, the end of the previous file's."""
        if job.file != self.file or job.first_index == 0:
            yield from self.end()
            self.file = job.file
        blank = uniform_images(job.images)
        where = np.flatnonzero(blank)
        self.count += len(where)
        self.first += (job.first_index + where[: 5 - len(self.first)]).tolist() if len(self.first) < 5 else []
        found = answers(job.file, probabilities, options, first_index=job.first_index)
        yield from (answer for answer, empty in zip(found, blank, strict=True) if not empty)

    def end(self, failure: Failure | None = None) -> list[Failure]:
        """What closes the file whose chunks came last, before `failure` (the next input's, or this file's
        own when it fails part-way: then one line says both)."""
        file, count, first = self.file, self.count, self.first
        self.file, self.count, self.first = None, 0, []
        if not count:
            return [failure] if failure is not None else []
        what = f"{count} image{'s' if count > 1 else ''} with no ink (one value in every pixel) not answered, at "
        what += f"index {', '.join(map(str, first))}{' …' if count > len(first) else ''}"
        if failure is not None and failure.file == file:
            return [Failure(failure.file, f"{failure.error}; before it, {what}")]
        return [Failure(str(file), f"{file}: {what}"), *([failure] if failure is not None else [])]
