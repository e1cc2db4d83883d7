"""The number reader: a convolutional-recurrent network over the columns of a line of writing, trained
with CTC, so that digits are read without cutting the image into pieces first (touching and
overlapping digits included).

Input: float32 (batch, LINE_HEIGHT, width, 1), light ink on black in [0, 1] (`imaging.line.to_line`),
width a multiple of 4. Output: (batch, width / 4, 11) probabilities per column, class 10 the CTC blank.
Four conv blocks pool the height from 32 to 2 and the width by 4; a bidirectional GRU reads the columns
in both directions; a softmax per column. Plain Keras layers only (any backend, exportable to ONNX).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

BLANK = 10  # CTC's "no digit here" class
CLASSES = 11
HEIGHT = 32
STRIDE = 4  # input columns per output column


def build_reader(
    channels: tuple[int, ...] = (32, 64, 96, 128), recurrent: int = 96, dropout: float = 0.15
) -> keras.Model:
    inputs = keras.Input((HEIGHT, None, 1), name="line")
    x = inputs
    for index, width in enumerate(channels):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D((2, 2) if index < 2 else (2, 1))(x)
    height = HEIGHT // 2 ** len(channels)
    x = layers.Permute((2, 1, 3))(x)  # (batch, columns, height, channels)
    x = layers.Reshape((-1, height * channels[-1]))(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Bidirectional(layers.GRU(recurrent, return_sequences=True))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(CLASSES, activation="softmax", name="columns")(x)
    return keras.Model(inputs, outputs, name="number_reader")


@keras.saving.register_keras_serializable(package="digitrec")
class CTCLoss(keras.losses.Loss):
    """CTC on the reader's probabilities. `y_true` rows are [label length, column count, digits…, padding]:
    lines of different widths share a batch, each with its own number of real columns."""

    def __init__(self, name: str = "ctc", **kwargs: Any):
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, "int32")
        # log-probabilities as CTC's logits: their log-softmax is themselves, so no softmax is applied twice
        log_probs = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        return ops.ctc_loss(y_true[:, 2:], log_probs, y_true[:, 0], y_true[:, 1], mask_index=BLANK)
