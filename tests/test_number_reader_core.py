"""The number reader's numpy side, with known answers: best-path decoding, the line's preparation, the
batching of lines by width and the calibration of the whole-number probability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digitrec.errors import DataError, ModelError
from digitrec.imaging.line import LINE_HEIGHT, MARGIN, MAX_LINE_WIDTH, WIDTH_STEP, line_from_ink
from digitrec.inference.ctc import BLANK, greedy
from digitrec.inference.reader import NumberReader


def column(label: int, p: float = 0.9) -> np.ndarray:
    out = np.full(11, (1 - p) / 10)
    out[label] = p
    return out


def columns(*labels: int, p: float = 0.9) -> np.ndarray:
    return np.stack([column(label, p) for label in labels])


def test_best_path_merges_repeats_and_drops_blanks():
    reading = greedy(columns(BLANK, 3, 3, BLANK, 3, 5, 5, 5, BLANK, 0))
    assert reading.digits == "3350"
    assert len(reading.confidences) == len(reading.top3) == 4
    assert reading.probability == pytest.approx(0.9**10)


def test_a_digit_keeps_its_surest_column():
    probs = np.stack([column(7, 0.6), column(7, 0.95), column(7, 0.7), column(BLANK)])
    reading = greedy(probs)
    assert reading.digits == "7" and reading.confidences == [pytest.approx(0.95)]
    assert reading.top3[0][0] == (7, pytest.approx(0.95))
    assert [d for d, _ in reading.top3[0]] == [7, 0, 1]  # ties among the rest in digit order


def test_only_blanks_read_as_no_digits():
    reading = greedy(columns(BLANK, BLANK, BLANK))
    assert reading.digits == "" and reading.confidences == [] and reading.probability == pytest.approx(0.9**3)


def test_decoding_refuses_the_wrong_shape():
    with pytest.raises(ValueError, match="expected"):
        greedy(np.zeros((4, 10)))


def test_a_line_is_cropped_to_its_ink_and_scaled_to_the_line_height():
    values = np.zeros((100, 300), np.float32)
    values[30:70, 50:130] = 1.0  # ink 40 high, 80 wide
    line = line_from_ink(values)
    inner = LINE_HEIGHT - 4
    assert line.shape[0] == LINE_HEIGHT and line.shape[1] % WIDTH_STEP == 0
    assert line.shape[1] >= 80 * inner // 40 + 2 * MARGIN
    ink_rows = np.flatnonzero(line.max(axis=1) > 0.5)
    assert ink_rows[0] == 2 and ink_rows[-1] == 2 + inner - 1
    ink_cols = np.flatnonzero(line.max(axis=0) > 0.5)
    assert ink_cols[0] == MARGIN and ink_cols[-1] == MARGIN + 80 * inner // 40 - 1
    assert line.dtype == np.float32 and line.min() >= 0 and line.max() <= 1


def test_blank_and_endless_lines_are_refused():
    with pytest.raises(DataError, match="no ink"):
        line_from_ink(np.zeros((40, 40), np.float32))
    values = np.zeros((10, 2000), np.float32)
    values[2:8, :] = 1.0  # 6 px high, 2000 long: ~9,300 columns at the line's height
    with pytest.raises(DataError, match="too long"):
        line_from_ink(values)
    values = np.zeros((28, MAX_LINE_WIDTH - 2 * MARGIN), np.float32)
    values[:, :] = 1.0
    assert line_from_ink(values).shape[1] <= MAX_LINE_WIDTH


class Recording:
    """A fake reader model: column c of a line of width W reads digit (W // 4) % 10 at c = 1."""

    def __init__(self):
        self.batches: list[tuple[int, int]] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.shape[:3:2])
        out = np.tile(column(BLANK, 0.99), (len(batch), batch.shape[2] // 4, 1))
        for row in range(len(batch)):
            real = int((batch[row, 0, :, 0] > 0.5).sum())  # the line's own columns: the padding is zeros
            out[row, 1] = column(real // 4 % 10, 0.99)
        return out.astype(np.float32)


def test_lines_are_read_in_order_batched_by_width_and_calibrated():
    model = Recording()
    reader = NumberReader(model, (2.0, 1.0), "fake")
    widths = [44, 8, 400, 12, 36]
    lines = [np.ones((LINE_HEIGHT, w), np.float32) for w in widths]
    readings = reader.read(lines)
    assert [r.digits for r in readings] == ["1", "2", "0", "3", "9"]  # in input order, each its own width
    assert model.batches == [(5, 400)]  # one batch, padded to the widest
    p = 0.99 ** (400 // 4)
    z = 2.0 * math.log(p / (1 - p)) + 1.0
    assert readings[2].probability == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-4)
    assert reader.calibrated(0.5) == pytest.approx(1 / (1 + math.exp(-1.0)))


def test_wide_lines_are_split_into_batches_of_bounded_size():
    model = Recording()
    reader = NumberReader(model, (1.0, 0.0), "fake")
    lines = [np.ones((LINE_HEIGHT, 4000), np.float32) for _ in range(20)]
    assert len(reader.read(lines)) == 20
    assert all(n * width <= 32 * 1024 for n, width in model.batches) and sum(n for n, _ in model.batches) == 20


def test_a_reader_answering_the_wrong_shape_is_a_model_error():
    reader = NumberReader(lambda batch: np.zeros((len(batch), 3, 11), np.float32), (1.0, 0.0), "broken")
    with pytest.raises(ModelError, match="broken: the number reader answered"):
        reader.read([np.zeros((LINE_HEIGHT, 40), np.float32)])


def test_a_model_that_is_no_number_reader_is_refused_when_loaded(tmp_path):
    """The digit model's ONNX file given as --reader: one line at load, not ONNX Runtime's error later."""
    from digitrec import bundled
    from digitrec.inference.reader import load_reader

    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelError, match=r"model.onnx: not a number reader \(expected \(N, 32, W, 1\)"):
        load_reader(bundled.ONNX)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="cannot load the number reader"):
        load_reader(tmp_path / "empty.onnx")
    (tmp_path / "r.onnx").write_bytes(bundled.READER_ONNX.read_bytes())
    (tmp_path / "r.json").write_text('{"calibration": "high"}')
    with pytest.raises(ModelError, match="r.json: corrupt calibration"):
        load_reader(tmp_path / "r.onnx")
    (tmp_path / "r.json").write_text("{}")  # none recorded: the path probability as it is
    assert load_reader(tmp_path / "r.onnx").calibrated(0.25) == pytest.approx(0.25)
