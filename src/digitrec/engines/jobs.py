"""The work of answering a list of inputs, in input order and in chunks: a file of many images (IDX,
Kaggle CSV) becomes its images, `chunk` at a time, already in MNIST format; a user image stays a source to
prepare (where the model runs: here, or on a Ray worker). Unreadable inputs become `Failure`s in place."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.data.sources import iter_images_file
from digitrec.errors import DataError
from digitrec.recognize import Failure, Source, failure, file_kind, source_name

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
