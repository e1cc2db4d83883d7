"""A recipe's model, compiled: architecture with augmentation in front, optimizer, schedule and loss."""

from __future__ import annotations

import keras

from digitrec.errors import ConfigError
from digitrec.nets import architectures
from digitrec.nets.augment import RandomAffine
from digitrec.nets.degrade import RandomDegrade
from digitrec.training.recipes import Recipe


def _learning_rate(recipe: Recipe, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    if recipe.schedule != "onecycle":
        return recipe.learning_rate
    total = recipe.epochs * steps_per_epoch
    warmup = int(total * recipe.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 25,
        decay_steps=max(1, total - warmup),
        alpha=0.002,
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    ema = {"use_ema": True, "ema_momentum": recipe.ema_momentum} if recipe.ema_momentum else {}
    config = {"learning_rate": _learning_rate(recipe, steps_per_epoch), **recipe.optimizer_args, **ema}
    try:
        return keras.optimizers.get({"class_name": recipe.optimizer, "config": config})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {recipe.optimizer} with {recipe.optimizer_args.to_json()}: {exc}") from None


def build_model(recipe: Recipe, steps_per_epoch: int, seed: int | None = None) -> keras.Model:
    """The recipe's architecture, augmentation in front, compiled with its optimizer and loss."""
    aug = recipe.augmentation
    pre: tuple = ()
    if aug:
        pre = (RandomAffine(aug.rotation, aug.zoom, aug.shift, seed=seed, name="augment"),)
        if aug.degrades:
            pre += (RandomDegrade(aug.stroke, aug.blur, aug.lowres, aug.elastic, seed=seed, name="degrade"),)
    model = architectures.build(recipe.model, pre, dtype_policy=recipe.precision, **recipe.model_args)
    model.compile(
        optimizer=_optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        # The recipe's switch is XLA on TensorFlow (slower on this CPU, so off). On JAX, False would mean
        # no jax.jit at all: every op dispatched eagerly, several times slower on a CPU and far more on a GPU.
        jit_compile=recipe.jit_compile or keras.backend.backend() == "jax",
    )
    return model
