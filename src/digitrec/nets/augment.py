"""One fused random-affine augmentation layer: rotation, zoom and shift in a single image resample.

It reproduces Keras' old `ImageDataGenerator(rotation_range, zoom_range, width/height_shift_range)`
(independent x/y zoom, shifts as a fraction of the size) but runs batched inside the model graph: no
Python per-sample work, one interpolation instead of three. It is the identity at inference.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="digitrec")
class RandomAffine(keras.layers.Layer):
    def __init__(
        self, rotation=10.0, zoom=0.1, shift=0.1, *, fill_mode="constant", interpolation="bilinear", seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.rotation = float(rotation)  # degrees, uniform in ±rotation
        self.zoom = float(zoom)  # scale uniform in [1-zoom, 1+zoom], independently per axis
        self.shift = float(shift)  # fraction of width/height, uniform in ±shift
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _transforms(self, batch, height, width):
        """Per-image 8-parameter projective transforms mapping output pixels to input pixels."""
        uniform = lambda lo, hi: keras.random.uniform((batch,), lo, hi, seed=self.seed_generator)  # noqa: E731
        theta = uniform(-self.rotation, self.rotation) * (math.pi / 180.0)
        zoom_x = uniform(1.0 - self.zoom, 1.0 + self.zoom)
        zoom_y = uniform(1.0 - self.zoom, 1.0 + self.zoom)
        shift_x = uniform(-self.shift, self.shift) * width
        shift_y = uniform(-self.shift, self.shift) * height
        cos, sin = ops.cos(theta), ops.sin(theta)
        a0, a1 = cos * zoom_x, -sin * zoom_y
        b0, b1 = sin * zoom_x, cos * zoom_y
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = cx - a0 * cx - a1 * cy + shift_x
        b2 = cy - b0 * cx - b1 * cy + shift_y
        zeros = ops.zeros_like(theta)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        transforms = self._transforms(shape[0], inputs.shape[1], inputs.shape[2])
        out = ops.image.affine_transform(
            ops.cast(inputs, "float32"),
            transforms,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            data_format="channels_last",
        )
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "shift": self.shift,
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }
