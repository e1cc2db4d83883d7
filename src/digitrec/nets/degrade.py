"""Training augmentation for digits that are not MNIST's: pens of other widths, blur, low resolution and a
shaky hand, as one Keras layer (identity at inference), batched in the graph with `keras.ops` only.

Each effect hits a random share of the images in a batch, each image drawing its own variant:
- `stroke`: strokes widened by a 3×3 or 5×5 maximum (a marker). Not narrowed: a 3×3 minimum erases
  MNIST's 2-pixel strokes, and `digitrec.imaging` thickens a fine pen's strokes anyway;
- `blur`: a Gaussian blur of σ 0.7 or 1.2 pixels;
- `lowres`: the 28×28 frame down to 10, 12 or 14 pixels and back up (the digit at 7–10 pixels: a far or
  coarse scan, UCI's 8×8 digits);
- `elastic`: Simard's elastic distortion, α up to `elastic` pixels (σ 4), on a quarter of each batch
  (it is the costly one: a gather per pixel).
Blurred and low-resolution images are rescaled to full contrast afterwards, as `digitrec.imaging` does
with every user image. What each effect buys is measured by `benchmarks/robustness.py` (docs/robustness.md).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

_LOWRES_SIDES = (10, 12, 14)
_BLUR_SIGMAS = (0.7, 1.2)
_ELASTIC_SIGMA = 4.0


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _bilinear(images: Any, rows: Any, cols: Any) -> Any:
    """Sample (N, H, W) images at fractional (rows, cols), zero outside: four gathers, dynamic batch.
    (`keras.ops.image.map_coordinates` needs a static batch size on TensorFlow.)"""
    height, width = images.shape[1], images.shape[2]
    flat = ops.reshape(images, (-1,))
    base = ops.reshape(ops.arange(ops.shape(images)[0], dtype="int32") * (height * width), (-1, 1, 1))
    top, left = ops.floor(rows), ops.floor(cols)
    down, right = rows - top, cols - left

    def at(row: Any, col: Any) -> Any:
        inside = (row >= 0) & (row <= height - 1) & (col >= 0) & (col <= width - 1)
        index = (
            base
            + ops.cast(ops.clip(row, 0, height - 1), "int32") * width
            + ops.cast(ops.clip(col, 0, width - 1), "int32")
        )
        return ops.take(flat, index) * ops.cast(inside, images.dtype)

    return (
        at(top, left) * (1 - down) * (1 - right)
        + at(top, left + 1) * (1 - down) * right
        + at(top + 1, left) * down * (1 - right)
        + at(top + 1, left + 1) * down * right
    )


@keras.saving.register_keras_serializable(package="digitrec")
class RandomDegrade(keras.layers.Layer):
    def __init__(
        self,
        stroke: float = 0.0,
        blur: float = 0.0,
        lowres: float = 0.0,
        elastic: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.stroke, self.blur, self.lowres, self.elastic = float(stroke), float(blur), float(lowres), float(elastic)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.blur_kernels = [_gaussian_kernel(s, 3) for s in _BLUR_SIGMAS]
        self.elastic_kernel = _gaussian_kernel(_ELASTIC_SIGMA, int(3 * _ELASTIC_SIGMA))

    def _coin(self, batch: Any, probability: float) -> Any:
        return ops.cast(keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < probability, "float32")

    def _choose(self, batch: Any, variants: list) -> Any:
        """One of `variants` per image, uniformly."""
        pick = ops.floor(keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) * len(variants))
        return sum(ops.cast(ops.equal(pick, i), "float32") * v for i, v in enumerate(variants))

    @staticmethod
    def _full_contrast(x: Any) -> Any:
        return x / ops.maximum(ops.max(x, axis=(1, 2, 3), keepdims=True), 1e-3)

    def _separable(self, x: Any, taps: np.ndarray) -> Any:
        kernel = ops.convert_to_tensor(taps)
        x = ops.depthwise_conv(x, ops.reshape(kernel, (-1, 1, 1, 1)), 1, "same")
        return ops.depthwise_conv(x, ops.reshape(kernel, (1, -1, 1, 1)), 1, "same")

    def _elastic(self, x: Any, batch: Any) -> Any:
        height, width = x.shape[1], x.shape[2]
        field = keras.random.uniform((batch, height, width, 2), -1.0, 1.0, seed=self.seed_generator)
        alpha = keras.random.uniform((batch, 1, 1, 1), 0.0, self.elastic, seed=self.seed_generator)
        taps = ops.convert_to_tensor(self.elastic_kernel)
        field = ops.depthwise_conv(field, ops.tile(ops.reshape(taps, (-1, 1, 1, 1)), (1, 1, 2, 1)), 1, "same")
        field = ops.depthwise_conv(field, ops.tile(ops.reshape(taps, (1, -1, 1, 1)), (1, 1, 2, 1)), 1, "same")
        field = field * alpha
        rows, cols = ops.meshgrid(
            ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
        )
        return _bilinear(x[..., 0], rows[None] + field[..., 0], cols[None] + field[..., 1])[..., None]

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training:
            return inputs
        x = ops.cast(inputs, "float32")
        batch = ops.shape(x)[0]
        if self.elastic > 0:
            quarter = batch // 4  # the batch is shuffled: its first quarter is a random quarter
            x = ops.concatenate([self._elastic(x[:quarter], quarter), x[quarter:]], axis=0)
        if self.stroke > 0:
            wide = ops.max_pool(x, 3, 1, "same")
            varied = self._choose(batch, [wide, ops.max_pool(x, 5, 1, "same")])
            coin = self._coin(batch, self.stroke)
            x = coin * varied + (1 - coin) * x
        if self.blur > 0:
            blurred = self._choose(batch, [self._full_contrast(self._separable(x, k)) for k in self.blur_kernels])
            coin = self._coin(batch, self.blur)
            x = coin * blurred + (1 - coin) * x
        if self.lowres > 0:
            size = x.shape[1:3]
            small = [
                ops.image.resize(ops.image.resize(x, (s, s), interpolation="area"), size, interpolation="bilinear")
                for s in _LOWRES_SIDES
            ]
            coin = self._coin(batch, self.lowres)
            x = coin * self._full_contrast(self._choose(batch, small)) + (1 - coin) * x
        return ops.cast(ops.clip(x, 0.0, 1.0), inputs.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "stroke": self.stroke,
            "blur": self.blur,
            "lowres": self.lowres,
            "elastic": self.elastic,
            "seed": self.seed,
        }
