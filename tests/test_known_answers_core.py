"""Known answers for the numpy-only predictor core (digitrec.inference.core), written to kill the mutants that
`make mutation` found surviving: exact batch sizes, the probe's exact input, the exact messages a user reads,
boundaries of the input and output checks. Every expected value follows from the code's contract by hand."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.errors import DataError, ModelError
from digitrec.inference.core import Predictor, check_probabilities, model_input

UNIFORM = np.full(10, 0.1, np.float32)


class Recorder:
    """A fake member: answers `answer` for every image and records every batch it is given."""

    def __init__(self, answer=UNIFORM):
        self.answer = np.asarray(answer, np.float32)
        self.batches: list[np.ndarray] = []

    def __call__(self, batch):
        self.batches.append(batch.copy())
        return np.tile(self.answer, (len(batch), 1))


class WrongAfterProbe:
    """Fine on the probe's two images, then answers one row too few."""

    def __call__(self, batch):
        return np.full((2, 10), 0.1, np.float32)


def test_the_probe_is_two_blank_float32_images():
    member = Recorder()
    Predictor([member], "probe")
    (blank,) = member.batches
    assert blank.shape == (2, 28, 28, 1) and blank.dtype == np.float32
    assert not blank.any()


def test_each_member_is_probed_once_and_not_at_all_without_probe():
    first, second = Recorder(), Recorder()
    Predictor([first, second], "two")
    assert [len(b) for b in first.batches] == [2] and [len(b) for b in second.batches] == [2]
    quiet = Recorder()
    Predictor([quiet], "quiet", probe=False)
    assert quiet.batches == []


def test_the_default_batch_is_1000_images():
    member = Recorder()
    Predictor([member], "batches", probe=False).predict_proba(np.zeros((2001, 28, 28), np.uint8))
    assert [len(b) for b in member.batches] == [1000, 1000, 1]


def test_without_tta_the_model_sees_the_images_themselves():
    member = Recorder()
    images = np.zeros((1, 28, 28), np.uint8)
    images[0, 0, 0] = 255  # a corner pixel: any shift would move it or drop it
    Predictor([member], "plain", probe=False).predict_proba(images)
    (batch,) = member.batches
    assert batch[0, 0, 0, 0] == 1.0 and batch.sum() == 1.0


def test_a_bad_output_after_loading_names_the_predictor():
    predictor = Predictor([WrongAfterProbe()], "my-model")
    with pytest.raises(ModelError) as error:
        predictor.predict_proba(np.zeros((3, 28, 28), np.uint8))
    assert str(error.value) == "my-model: expected an output of shape (3, 10), got (2, 10)"


def test_not_probabilities_message():
    with pytest.raises(ModelError) as error:
        check_probabilities(np.full((2, 10), 0.2), 2, "m")
    assert str(error.value) == "m: its outputs are not probabilities (no softmax at the end?)"


def test_a_model_error_of_a_member_is_passed_through_unchanged():
    def refuses(batch):
        raise DataError("the member's own words")

    def fails(batch):
        raise ModelError("the member's model error")

    with pytest.raises(DataError) as data_error:
        Predictor([refuses], "x")
    assert str(data_error.value) == "the member's own words"
    with pytest.raises(ModelError) as model_error:
        Predictor([fails], "x")
    assert str(model_error.value) == "the member's model error"


def test_a_crashing_member_is_reported_in_one_line():
    def crashes(batch):
        raise ValueError("incompatible shapes\nsecond line of a long backend message")

    def crashes_silently(batch):
        raise RuntimeError

    with pytest.raises(ModelError) as error:
        Predictor([crashes], "net")
    assert str(error.value) == "net: the model cannot run on (N, 28, 28, 1) images (ValueError: incompatible shapes)"
    assert error.value.__cause__ is None and error.value.__suppress_context__
    with pytest.raises(ModelError) as silent:
        Predictor([crashes_silently], "net")
    assert str(silent.value) == "net: the model cannot run on (N, 28, 28, 1) images (RuntimeError: )"


def test_no_models_message():
    with pytest.raises(ModelError) as error:
        Predictor([], "empty")
    assert str(error.value) == "empty: no models"


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((1, 28, 28), np.int16), "images of shape (N, 28, 28) must be uint8 0–255 (MNIST format), got int16"),
        (np.full((1, 28, 28, 1), 1.5), "float images must hold values in [0, 1]"),
        (np.full((1, 28, 28, 1), -0.5), "float images must hold values in [0, 1]"),
        (
            np.zeros((1, 28, 28, 1), np.uint8),
            "expected uint8 images (N, 28, 28) or float images (N, 28, 28, 1), got uint8 (1, 28, 28, 1)",
        ),
        (
            np.zeros((1, 28, 28, 2)),
            "expected uint8 images (N, 28, 28) or float images (N, 28, 28, 1), got float64 (1, 28, 28, 2)",
        ),
        (
            np.zeros((1, 27, 28, 1)),
            "expected uint8 images (N, 28, 28) or float images (N, 28, 28, 1), got float64 (1, 27, 28, 1)",
        ),
        (
            np.zeros((1, 28, 28, 1, 1)),
            "expected uint8 images (N, 28, 28) or float images (N, 28, 28, 1), got float64 (1, 28, 28, 1, 1)",
        ),
    ],
)
def test_model_input_messages(images, message):
    with pytest.raises(DataError) as error:
        model_input(images)
    assert str(error.value) == message


def test_model_input_accepts_the_ends_of_the_unit_range_and_empty_batches():
    ends = np.zeros((1, 28, 28, 1), np.float64)
    ends[0, 0, 0, 0] = 1.0  # exactly 0 and exactly 1: both inside [0, 1]
    out = model_input(ends)
    assert out.dtype == np.float32 and out[0, 0, 0, 0] == 1.0 and out.sum() == 1.0
    assert model_input(np.zeros((0, 28, 28, 1), np.float16)).shape == (0, 28, 28, 1)
    assert model_input(np.zeros((0, 28, 28), np.uint8)).shape == (0, 28, 28, 1)


def test_float32_input_is_used_as_is():
    x = np.full((2, 28, 28, 1), 0.25, np.float32)
    assert model_input(x) is x  # no copy of a batch that is already right


@pytest.mark.parametrize(
    "offset, accepted",
    [(0.0, True), (0.0009, True), (-0.0009, True), (0.0011, False), (-0.0011, False), (0.002, False)],
)
def test_probabilities_may_miss_a_sum_of_one_by_a_thousandth(offset, accepted):
    out = np.full((2, 10), 0.1, np.float64)
    out[:, 0] += offset
    if accepted:
        checked = check_probabilities(out, 2, "m")
        assert checked.dtype == np.float32
        np.testing.assert_allclose(checked[:, 0], 0.1 + offset, rtol=1e-6)
    else:
        with pytest.raises(ModelError, match="not probabilities"):
            check_probabilities(out, 2, "m")


def test_certain_answers_with_exact_zeros_are_probabilities():
    out = np.eye(10, dtype=np.float32)[[3, 7]]
    np.testing.assert_array_equal(check_probabilities(out, 2, "m"), out)
    assert check_probabilities(np.zeros((0, 10)), 0, "m").shape == (0, 10)
    with pytest.raises(ModelError, match="not probabilities"):
        check_probabilities(np.array([[-1e-6, 0.1 + 1e-6] + [0.1125] * 8] * 2), 2, "m")
    with pytest.raises(ModelError, match="not probabilities"):
        check_probabilities(np.array([[np.inf] + [0.0] * 9] * 2), 2, "m")


def test_a_wrong_shape_at_the_probe_names_the_predictor():
    with pytest.raises(ModelError) as error:
        Predictor([Recorder(np.full(5, 0.2))], "five classes")
    assert str(error.value) == "five classes: expected an output of shape (2, 10), got (2, 5)"


def test_a_member_that_crashes_after_loading_names_the_predictor():
    class CrashesLater(Recorder):
        def __call__(self, batch):
            if self.batches:
                raise RuntimeError("out of memory")
            return super().__call__(batch)

    predictor = Predictor([CrashesLater()], "big-net")
    with pytest.raises(ModelError) as error:
        predictor.predict_proba(np.zeros((1, 28, 28), np.uint8))
    assert str(error.value) == "big-net: the model cannot run on (N, 28, 28, 1) images (RuntimeError: out of memory)"
