"""The backend-neutral predictor: numpy only. A model here is any callable that maps a float32 batch
(N, 28, 28, 1) in [0, 1] to (N, 10) probabilities; `Predictor` batches, averages an ensemble's members
and test-time-augmentation views, and checks what comes in and what comes out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from digitrec.data.prepare import NUM_CLASSES, normalize
from digitrec.errors import DataError, ModelError, first_line

Model = Callable[[np.ndarray], np.ndarray]
SIDE = 28
# Test-time augmentation views: the image itself and one-pixel shifts (rows, cols).
TTA_SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
_SUM_TOLERANCE = 1e-3  # float32 softmax sums are within ~1e-6 of 1; anything further off is not a softmax


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift (N, H, W, ...) images by whole pixels (dy down, dx right), filling with background (0)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def model_input(images: np.ndarray) -> np.ndarray:
    """MNIST-format uint8 (N, 28, 28), or float (N, 28, 28, 1) already in [0, 1] → float32 (N, 28, 28, 1)."""
    try:
        x = np.asarray(images)
    except ValueError:  # a ragged list of arrays
        raise DataError("images must all be 28×28 (a list of arrays of different shapes was given)") from None
    if x.ndim == 3 and x.shape[1:] == (SIDE, SIDE):
        if x.dtype != np.uint8:
            raise DataError(f"images of shape (N, 28, 28) must be uint8 0–255 (MNIST format), got {x.dtype}")
        return normalize(x)
    if x.ndim == 4 and x.shape[1:] == (SIDE, SIDE, 1) and np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
            raise DataError("float images must hold values in [0, 1]")
        return x
    raise DataError(f"expected uint8 images (N, 28, 28) or float images (N, 28, 28, 1), got {x.dtype} {x.shape}")


def check_probabilities(probabilities: np.ndarray, count: int, name: str) -> np.ndarray:
    """A model's output must be (count, 10) finite probabilities summing to 1, else `ModelError`."""
    out = np.asarray(probabilities)
    if out.shape != (count, NUM_CLASSES):
        raise ModelError(f"{name}: expected an output of shape ({count}, 10), got {out.shape}")
    if out.size and not (
        np.isfinite(out).all() and out.min() >= 0.0 and np.abs(out.sum(axis=1) - 1.0).max() <= _SUM_TOLERANCE
    ):
        raise ModelError(f"{name}: its outputs are not probabilities (no softmax at the end?)")
    return out.astype(np.float32, copy=False)


class Predictor:
    """Averages the outputs of one or more models over optional test-time augmentation views."""

    def __init__(self, models: Sequence[Model], name: str, probe: bool = True, check: Model | None = None):
        if not models:
            raise ModelError(f"{name}: no models")
        self.models = list(models)
        self.name = name
        self.check = check  # images → P(a digit) (N,): the digit check, or None
        if probe:  # a wrong input shape or a missing softmax fails at load, not on a user's image
            blank = np.zeros((2, SIDE, SIDE, 1), np.float32)
            for model in self.models:
                check_probabilities(_call(model, blank, name), 2, name)

    def predict_proba(self, images: np.ndarray, tta: bool = False, batch_size: int = 1000) -> np.ndarray:
        """(N, 10) float32 probabilities for MNIST-format images (see `model_input`)."""
        x = model_input(images)
        views = [shift(x, dy, dx) for dy, dx in TTA_SHIFTS] if tta else [x]
        total = np.zeros((len(x), NUM_CLASSES), dtype=np.float64)
        for model in self.models:
            for view in views:
                for start in range(0, len(x), batch_size):
                    batch = view[start : start + batch_size]
                    total[start : start + len(batch)] += check_probabilities(
                        _call(model, batch, self.name), len(batch), self.name
                    )
        return (total / (len(self.models) * len(views))).astype(np.float32)

    def digit_scores(self, images: np.ndarray) -> np.ndarray | None:
        """P(a digit) for each MNIST-format image from the digit check; None when there is none."""
        return None if self.check is None else np.asarray(self.check(images), np.float32)


def _call(model: Model, batch: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(model(batch))
    except (DataError, ModelError):
        raise
    except Exception as exc:  # noqa: BLE001 (a backend's error for an incompatible model; one line)
        raise ModelError(
            f"{name}: the model cannot run on (N, 28, 28, 1) images ({type(exc).__name__}: {first_line(exc)})"
        ) from None
