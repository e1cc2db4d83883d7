"""Named architectures, all plain Keras built from `keras.layers` only (backend-agnostic).

Each builder returns the layers of a model mapping (N, 28, 28, 1) floats in [0, 1] to 10 probabilities.
Keras is imported when a model is built, not when this module is: recipes check a model's name and
arguments against the registry without starting a backend.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from digitrec.errors import ConfigError, first_line

if TYPE_CHECKING:
    import keras

INPUT_SHAPE = (28, 28, 1)
_REGISTRY: dict[str, Callable[..., list]] = {}


def register(name: str) -> Callable[[Callable[..., list]], Callable[..., list]]:
    def decorator(builder: Callable[..., list]) -> Callable[..., list]:
        _REGISTRY[name] = builder
        return builder

    return decorator


def names() -> list[str]:
    return sorted(_REGISTRY)


def check_arguments(name: str, model_args: Mapping[str, Any]) -> None:
    """`ConfigError` unless `name` is registered and its builder accepts `model_args` by name."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(names())}")
    try:
        inspect.signature(_REGISTRY[name]).bind(**model_args)
    except TypeError as exc:
        accepted = ", ".join(inspect.signature(_REGISTRY[name]).parameters) or "none"
        raise ConfigError(f"model {name!r}: {exc} (its arguments: {accepted})") from None


def build(name: str, preprocessing: tuple = (), dtype_policy: str | None = None, **model_args: Any) -> keras.Model:
    """Build a registered architecture as a Sequential model, `preprocessing` layers (e.g. training
    augmentation, identity at inference) first. The output softmax stays float32 under mixed precision.
    Arguments of the wrong type or range are a `ConfigError`."""
    import keras  # noqa: PLC0415 (see the module docstring)

    check_arguments(name, model_args)
    previous = keras.config.dtype_policy()
    if dtype_policy:
        keras.config.set_dtype_policy(dtype_policy)
    try:
        body = _REGISTRY[name](**model_args)
        return keras.Sequential([keras.Input(INPUT_SHAPE), *preprocessing, *body], name=name)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r} with {dict(model_args)}: {first_line(exc)}") from None
    finally:
        keras.config.set_dtype_policy(previous)


def _softmax_output() -> list:
    from keras import layers  # noqa: PLC0415

    return [layers.Dense(10), layers.Activation("softmax", dtype="float32")]


@register("seed")
def seed_cnn() -> list:
    """The original Kaggle kernel's CNN: (Conv5×5 32 ×2 → pool → drop) (Conv3×3 64 ×2 → pool → drop) → 256 → 10."""
    from keras import layers  # noqa: PLC0415

    def conv(filters: int, size: int) -> keras.layers.Layer:
        return layers.Conv2D(filters, size, padding="same", activation="relu")

    return [
        conv(32, 5),
        conv(32, 5),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        conv(64, 3),
        conv(64, 3),
        layers.MaxPooling2D(2, strides=2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.5),
        *_softmax_output(),
    ]


def _conv_bn(filters: int, size: int, strides: int = 1, padding: str = "valid", bn_momentum: float = 0.99) -> list:
    from keras import layers  # noqa: PLC0415

    if not 0 < bn_momentum < 1:  # Keras takes any number: 1 would freeze the statistics at their start
        raise ConfigError(f"bn_momentum must be in (0, 1), got {bn_momentum!r}")
    return [
        layers.Conv2D(filters, size, strides=strides, padding=padding, use_bias=False),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.Activation("relu"),
    ]


@register("deotte")
def deotte_cnn(
    dropout: float = 0.4,
    widths: tuple = (32, 64, 128),
    stem: tuple = (3, 3),
    downsample: str = "conv",
    bn_momentum: float = 0.99,
) -> list:
    """Chris Deotte's Kaggle net: 32C3-32C3-32C5S2-64C3-64C3-64C5S2-128C4 with BN (dropout 0.4 there).

    Variants, measured in docs/results.md: `widths`, the three blocks' channels; `stem`, the kernel sizes of
    the valid convs before the first downsampling ((5,): the same 24×24 output from one conv at about half
    the training cost); `downsample`, "conv" (Deotte's 5×5 stride-2 convs) or "pool" (2×2 max pooling).
    """
    from keras import layers  # noqa: PLC0415

    if downsample not in ("conv", "pool"):
        raise ConfigError(f"downsample must be 'conv' or 'pool', got {downsample!r}")
    if len(widths) != 3 or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ConfigError(f"widths must be three positive integers, got {widths!r}")
    if not stem or not all(isinstance(k, int) and k >= 1 for k in stem):
        raise ConfigError(f"stem must be one or more positive kernel sizes, got {stem!r}")
    if not 0 <= dropout < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
    a, b, c = widths

    def conv(filters: int, size: int, strides: int = 1, padding: str = "valid") -> list:
        return _conv_bn(filters, size, strides, padding, bn_momentum=bn_momentum)

    def down(filters: int) -> list:
        return conv(filters, 5, 2, "same") if downsample == "conv" else [layers.MaxPooling2D(2)]

    return [
        *(layer for size in stem for layer in conv(a, size)),
        *down(a),
        layers.Dropout(dropout),
        *conv(b, 3),
        *conv(b, 3),
        *down(b),
        layers.Dropout(dropout),
        *conv(c, 4),
        layers.Flatten(),
        layers.Dropout(dropout),
        *_softmax_output(),
    ]


# An, Lee, Park, Yang & So (2020), "An ensemble of simple convolutional neural network models for MNIST
# digit recognition": valid convolutions only, no pooling, down to 8×8 (3×3, 5×5) or 4×4 (7×7). Nets that
# differ in kernel size err on different digits, which is what an ensemble needs.
_SIMPLE_WIDTHS = {3: tuple(range(32, 177, 16)), 5: (32, 64, 96, 128, 160), 7: (48, 96, 144, 192)}


@register("simple")
def simple_cnn(kernel: int = 5, bn_momentum: float = 0.99) -> list:
    """An et al.'s M3, M5 or M7 by `kernel`: 10, 5 or 4 valid k×k convs (BN, ReLU) into the softmax. Their
    head's BN after the dense layer is left out: every model here ends in Dense(10) and a softmax, which
    calibration (a temperature on the logits) and the exports rely on."""
    from keras import layers  # noqa: PLC0415

    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel not in _SIMPLE_WIDTHS:
        raise ConfigError(f"kernel must be one of {sorted(_SIMPLE_WIDTHS)}, got {kernel!r}")
    return [
        *(layer for width in _SIMPLE_WIDTHS[kernel] for layer in _conv_bn(width, kernel, bn_momentum=bn_momentum)),
        layers.Flatten(),
        *_softmax_output(),
    ]
