"""Named architectures, all plain Keras built from `keras.layers` only (backend-agnostic).

Each builder returns an uncompiled model mapping (N, 28, 28, 1) floats in [0, 1] to 10 probabilities.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from digitrec.errors import ConfigError

INPUT_SHAPE = (28, 28, 1)
_REGISTRY: dict[str, Callable[[], list]] = {}


def register(name: str):
    def decorator(builder):
        _REGISTRY[name] = builder
        return builder
    return decorator


def names() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str, preprocessing: tuple = (), dtype_policy: str | None = None, **model_args) -> keras.Model:
    """Build a registered architecture as a Sequential model, `preprocessing` layers (e.g. training
    augmentation, identity at inference) first. The output softmax stays float32 under mixed precision."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(names())}")
    previous = keras.config.dtype_policy()
    if dtype_policy:
        keras.config.set_dtype_policy(dtype_policy)
    try:
        return keras.Sequential([keras.Input(INPUT_SHAPE), *preprocessing, *_REGISTRY[name](**model_args)], name=name)
    finally:
        keras.config.set_dtype_policy(previous)


def _softmax_output() -> list:
    return [layers.Dense(10), layers.Activation("softmax", dtype="float32")]


def _head(units: int, dropout: float) -> list:
    return [layers.Flatten(), layers.Dense(units, activation="relu"), layers.Dropout(dropout), *_softmax_output()]


@register("seed")
def seed_cnn() -> list:
    """The original Kaggle kernel's CNN: (Conv5×5 32 ×2 → pool → drop) (Conv3×3 64 ×2 → pool → drop) → 256 → 10."""
    conv = lambda filters, size: layers.Conv2D(filters, size, padding="same", activation="relu")  # noqa: E731
    return [
        conv(32, 5), conv(32, 5), layers.MaxPooling2D(2), layers.Dropout(0.25),
        conv(64, 3), conv(64, 3), layers.MaxPooling2D(2, strides=2), layers.Dropout(0.25),
        *_head(256, 0.5),
    ]


def _conv_bn(filters: int, size: int, strides: int = 1, padding: str = "valid", bn_momentum: float = 0.99) -> list:
    return [
        layers.Conv2D(filters, size, strides=strides, padding=padding, use_bias=False),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.Activation("relu"),
    ]


@register("deotte")
def deotte_cnn(dropout: float = 0.4, widths: tuple = (32, 64, 128), stem: tuple = (3, 3),
               downsample: str = "conv", bn_momentum: float = 0.99) -> list:
    """Chris Deotte's Kaggle net: 32C3-32C3-32C5S2-64C3-64C3-64C5S2-128C4 with BN (dropout 0.4 there).

    Variants, all measured in the README: `widths`, the three blocks' channels; `stem`, the kernel sizes of
    the valid convs before the first downsampling ((5,): the same 24×24 output from one conv at about half
    the training cost); `downsample`, "conv" (Deotte's 5×5 stride-2 convs) or "pool" (2×2 max pooling).
    """
    if downsample not in ("conv", "pool"):
        raise ConfigError(f"downsample must be 'conv' or 'pool', got {downsample!r}")
    a, b, c = widths
    conv = lambda *args: _conv_bn(*args, bn_momentum=bn_momentum)  # noqa: E731
    down = lambda filters: conv(filters, 5, 2, "same") if downsample == "conv" else [layers.MaxPooling2D(2)]  # noqa: E731
    return [
        *(layer for size in stem for layer in conv(a, size)), *down(a), layers.Dropout(dropout),
        *conv(b, 3), *conv(b, 3), *down(b), layers.Dropout(dropout),
        *conv(c, 4), layers.Flatten(), layers.Dropout(dropout),
        *_softmax_output(),
    ]


@register("compact")
def compact_cnn() -> list:
    """A small fast net for CPU: BN convs, stride-2 downsampling, global pooling head (~100k params)."""
    return [
        *_conv_bn(32, 3, padding="same"), *_conv_bn(32, 3, 2, "same"),
        *_conv_bn(64, 3, padding="same"), *_conv_bn(64, 3, 2, "same"),
        *_conv_bn(128, 3, padding="same"), layers.GlobalAveragePooling2D(), layers.Dropout(0.2),
        *_softmax_output(),
    ]
