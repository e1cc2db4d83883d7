"""The local engine: inputs of every kind answered in order, large files chunk by chunk (memory follows the
chunk), a file failing part-way keeps the answers before its failure."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from digitrec.data.idx import write_idx
from digitrec.errors import ModelError
from digitrec.predict import iter_recognize
from digitrec.predict.reading import Failure, Prediction


class Recording:
    """A fake model: digit = the image's top-left pixel % 10, certain; records every batch's size."""

    name = "recording"

    def __init__(self):
        self.batches: list[int] = []

    def predict_proba(self, images, tta=False):
        self.batches.append(len(images))
        return np.eye(10, dtype=np.float32)[np.asarray(images)[:, 0, 0] % 10]


def numbered(count: int) -> np.ndarray:
    """Noise images (incompressible, unlike blank ones, which the gzip ratio cap refuses) whose top-left
    pixel numbers them."""
    images = np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(count) % 256
    return images


def test_a_large_file_is_answered_chunk_by_chunk_in_order(tmp_path):
    write_idx(tmp_path / "big.idx.gz", numbered(10_000))
    model = Recording()
    results = iter_recognize([tmp_path / "big.idx.gz"], model, chunk=4096)
    first = next(results)
    assert model.batches == [4096]  # the first answer comes after one chunk, not after the whole file
    rest = list(results)
    assert model.batches == [4096, 4096, 1808]
    answers = [first, *rest]
    assert [a.index for a in answers] == list(range(10_000))
    assert [a.digit for a in answers] == [(i % 256) % 10 for i in range(10_000)]


def test_a_file_failing_part_way_keeps_its_earlier_answers(tmp_path):
    data = gzip.compress(gzip.decompress(_idx_bytes(tmp_path, numbered(6000)))[:-10])  # cut short
    (tmp_path / "cut.idx.gz").write_bytes(data)
    results = list(iter_recognize([tmp_path / "cut.idx.gz", tmp_path / "whole.idx.gz"], Recording(), chunk=4096))
    cut = [r for r in results if getattr(r, "file", "").endswith("cut.idx.gz")]
    assert len(cut) == 4097 and isinstance(cut[-1], Failure) and "but the file has" in cut[-1].error
    assert [r.index for r in results if r.file.endswith("whole.idx.gz")] == list(range(6000))


def _idx_bytes(tmp_path, images) -> bytes:
    write_idx(tmp_path / "whole.idx.gz", images)
    return (tmp_path / "whole.idx.gz").read_bytes()


@pytest.mark.parametrize("count", [1, 255, 256, 257, 600])
def test_user_images_are_batched_and_answered_in_order(count):
    model = Recording()
    images = [np.pad(np.full((10, 4), 200, np.uint8), 20) for _ in range(count)]
    results = list(iter_recognize([*images, b"junk"], model))
    assert len(results) == count + 1 and isinstance(results[-1], Failure)
    assert all(size <= 256 for size in model.batches) and sum(model.batches) == count
    assert [r.file for r in results[:-1]] == [f"<array #{i}>" for i in range(count)]


@pytest.mark.parametrize(
    "model, message", [("no-such-run", "no such model file or run directory"), ("gone.onnx", "no such file")]
)
def test_the_ray_engine_checks_the_model_before_starting_a_cluster(tmp_path, model, message):
    """A missing model is one ModelError on the driver, not a failure in every actor after Ray started."""
    from digitrec.predict.ray import iter_recognize_ray

    with pytest.raises(ModelError, match=message):
        next(iter_recognize_ray([tmp_path / "a.png"], str(tmp_path / model)))


@pytest.mark.parametrize("chunk", [2, 4096])
def test_empty_canvases_in_a_file_are_left_unanswered_and_reported_in_one_line(tmp_path, chunk):
    """A model guesses at an empty square, confidently (an all-black one reads as a 1 at 99.5 %); a file
    of thousands of them is one line, after the file's answers."""
    images = numbered(9)
    images[[1, 3, 4, 5, 6, 7]] = 0
    images[3] = 255
    write_idx(tmp_path / "some.idx.gz", images)
    write_idx(tmp_path / "other.idx.gz", numbered(2))
    results = list(iter_recognize([tmp_path / "some.idx.gz", tmp_path / "other.idx.gz"], Recording(), chunk=chunk))
    assert [(r.file[-11:], r.index) for r in results if isinstance(r, Prediction)][:3] == [
        ("some.idx.gz", 0), ("some.idx.gz", 2), ("some.idx.gz", 8)
    ]  # fmt: skip
    assert [type(r).__name__ for r in results] == ["Prediction"] * 3 + ["Failure"] + ["Prediction"] * 2
    assert results[3].error == (
        f"{tmp_path / 'some.idx.gz'}: 6 images with no ink (one value in every pixel) not answered, "
        "at index 1, 3, 4, 5, 6 …"
    )


def test_a_file_failing_after_empty_canvases_is_one_line_for_both(tmp_path):
    images = numbered(6000)
    images[:10] = 0
    data = gzip.compress(gzip.decompress(_idx_bytes(tmp_path, images))[:-10])  # cut short
    (tmp_path / "cut.idx.gz").write_bytes(data)
    results = list(iter_recognize([tmp_path / "cut.idx.gz"], Recording(), chunk=4096))
    assert len(results) == 4096 - 10 + 1 and isinstance(results[-1], Failure)
    assert "but the file has" in results[-1].error
    assert results[-1].error.endswith(
        "; before it, 10 images with no ink (one value in every pixel) not answered, at index 0, 1, 2, 3, 4 …"
    )
