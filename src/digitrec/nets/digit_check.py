"""The digit check: a small convolutional network that tells a digit from anything else, on the same
28×28 image the classifier reads. Trained with outliers (`training.digit_check`): real digits against
letters, symbols, scribbles, pieces and pairs of digits, noise, textures and photos.

Input float32 (batch, 28, 28, 1) in [0, 1]; output (batch, 2) probabilities: [not a digit, a digit].
A separate network rather than a head on the classifier: the classifier's weights, accuracy and
calibration stay exactly as they are, and the check can be retrained on new kinds of non-digits alone.
"""

from __future__ import annotations

import keras
from keras import layers


def build_digit_check(channels: tuple[int, ...] = (32, 48, 64), dense: int = 128, dropout: float = 0.3) -> keras.Model:
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for width in channels:
        for _ in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)  # 28 → 14 → 7 → 3
    x = layers.Flatten()(x)  # where strokes are matters: two digits side by side are not one
    x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(2, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name="digit_check")
