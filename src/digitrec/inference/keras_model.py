"""Keras models behind a model file, a run directory or an ensemble run directory, as `Predictor` models.
Keras (and its backend) is imported by this module only; `digitrec.inference` imports it lazily."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import keras
import numpy as np

from digitrec.errors import ModelError, first_line
from digitrec.fileio import check_regular
from digitrec.inference.core import Predictor
from digitrec.nets import (
    augment,  # noqa: F401 (register the custom layers for loading)
    degrade,  # noqa: F401 (register the custom layers for loading)
)
from digitrec.rundir import model_files

INPUT_SHAPE = (None, 28, 28, 1)
_MAX_MEMBERS = 64  # Keras writes three (config.json, metadata.json, model.weights.h5)
_MAX_CONFIG_BYTES = 16 << 20  # this project's configs are ~20 KB; an ensemble's or a big net's far below this
_INFLATE_ALLOWANCE = 64 << 20  # members may inflate to 4× the file's size plus this (Keras stores them as is)
_WEIGHTS = "model.weights.h5"
_WEIGHTS_SLACK = 1 << 20  # bytes the declared weights may exceed the file by (empty arrays, HDF5's rounding)


class KerasModel:
    """A Keras model called directly per batch: `predict()`'s per-call dataset setup dominates small inputs."""

    def __init__(self, model: keras.Model):
        self.model = model

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return keras.ops.convert_to_numpy(self.model(batch, training=False))


def load_keras_model(
    path: str | os.PathLike,
    input_shape: tuple = INPUT_SHAPE,
    output_shape: tuple = (None, 10),
    shapes: str = "(N, 28, 28, 1) images to (N, 10) probabilities",
) -> keras.Model:
    """One .keras file, safely (Keras' safe mode: no Lambda layers or arbitrary code), checked to take
    (N, 28, 28, 1) images and give (N, 10) outputs (or the shapes given: the number reader's)."""
    path = Path(path)
    info = check_regular(path, "model file", ModelError)
    _check_archive(path, info.st_size)
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 (Keras raises many types for a bad file; report one line)
        detail = first_line(exc)
        raise ModelError(f"{path}: cannot load model ({type(exc).__name__}: {detail[:200]})") from None
    try:
        inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError, TypeError):
        inputs, outputs = (), ()
    if inputs != input_shape or outputs != output_shape:
        raise ModelError(f"{path}: expected a model from {shapes}, got {inputs or '?'} → {outputs or '?'}")
    return model


def check_keras_file(path: str | os.PathLike, what: str = "model file") -> None:
    """The checks every .keras file gets before Keras opens it: a regular file, a sound zip archive whose
    members do not inflate far beyond its size, weights that do not declare more than it holds."""
    info = check_regular(path, what, ModelError)
    _check_archive(Path(path), info.st_size)


def _check_archive(path: Path, size: int) -> None:
    """A .keras file is a zip archive (Keras stores its members uncompressed): one whose members inflate
    far beyond its own size would cost gigabytes to load (~2× the inflated size, measured with a 300-KB file
    whose config.json inflates to 300 MB), so it is refused before Keras opens it. One that is no zip at all
    (truncated, or another file renamed) is refused here too: Keras calls it "File not found", though it is
    there. Other names (a legacy .h5 file) are left to Keras, which reads them without zipfile."""
    if not str(path).endswith(".keras"):  # what Keras itself reads as a zip (its test, exactly)
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except Exception as exc:  # noqa: BLE001 (a hostile central directory raises BadZipFile, NotImplementedError,
        # ValueError, EOFError…: a fuzz of the headers found several kinds, none of them a problem of ours)
        reason = first_line(exc) or type(exc).__name__
        raise ModelError(f"{path}: not a .keras archive (a zip): {reason[:200]}") from None
    inflated = sum(member.file_size for member in members)
    config = sum(member.file_size for member in members if member.filename.endswith(".json"))
    if len(members) > _MAX_MEMBERS or config > _MAX_CONFIG_BYTES or inflated > _INFLATE_ALLOWANCE + 4 * size:
        raise ModelError(
            f"{path}: not a usable .keras archive ({len(members)} members inflating to {inflated:,} bytes, "
            f"{config:,} of them JSON, from a {size:,}-byte file)"
        )
    weights = _declared_weight_bytes(path)
    if weights > size + _WEIGHTS_SLACK:
        raise ModelError(
            f"{path}: its weights declare {weights / 2**20:,.0f} MB in a {size / 2**20:,.1f}-MB file "
            "(corrupt or hostile)"
        )


def _declared_weight_bytes(path: Path) -> int:
    """The bytes the weight arrays of a .keras file declare. Keras writes them uncompressed, so they fit in
    the file; HDF5 can declare a compressed (or never written) array of any size, which loading fills in:
    a 1.4-MB file declaring a 1-GB array cost 4.8 GB. An unreadable weights file is left to Keras."""
    import h5py  # noqa: PLC0415 (Keras' own dependency; only for .keras files)

    total = 0

    def add(_: str, item: object) -> None:
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += int(item.size or 0) * item.dtype.itemsize

    try:
        with (
            zipfile.ZipFile(path) as archive,
            open(path, "rb") as raw,
            _member(archive, raw) as stream,
            h5py.File(stream, "r") as file,
        ):
            file.visititems(add)
    except Exception:  # noqa: BLE001 (no weights member, or not HDF5: Keras names the problem)
        return 0
    return total


def _member(archive: zipfile.ZipFile, raw: io.BufferedReader) -> io.BufferedReader | io.BytesIO:
    """The weights member as a seekable file. Keras stores it uncompressed, so it is read in place: h5py
    seeks back and forth, and zipfile's own stream re-reads a member from its start on every backward
    seek (walking a 155-MB model's weights took 2.5 s). A compressed one (not Keras') is inflated, within
    the archive's inflation cap checked before."""
    info = archive.getinfo(_WEIGHTS)
    if info.compress_type != zipfile.ZIP_STORED:
        return io.BytesIO(archive.read(info))
    raw.seek(info.header_offset)
    local = raw.read(30)  # the member's local header: its name and extra field come before the data
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    return io.BufferedReader(_Window(raw, start, info.file_size))


class _Window(io.RawIOBase):
    """`size` bytes of `raw` from `start`, as a file of their own."""

    def __init__(self, raw: io.BufferedReader, start: int, size: int):
        super().__init__()
        self.raw, self.start, self.size, self.pos = raw, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self.size - self.pos))
        self.raw.seek(self.start + self.pos)
        count = self.raw.readinto(memoryview(buffer)[:count]) or 0
        self.pos += count
        return count


def load_keras_models(source: str | os.PathLike) -> list[keras.Model]:
    """The model(s) of a .keras file, a run directory or an ensemble run directory."""
    return [load_keras_model(path) for path in model_files(source)]


def load_keras_predictor(source: str | os.PathLike) -> Predictor:
    return Predictor([KerasModel(model) for model in load_keras_models(source)], name=str(source))
