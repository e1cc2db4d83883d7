"""Recipes and models: the seed is exactly the original; every preset builds and learns on real data."""

from __future__ import annotations

import json

import keras
import pytest

from digitrec import training
from digitrec.errors import ConfigError
from digitrec.nets import architectures
from digitrec.training import recipes
from digitrec.training.recipes import Recipe


def test_seed_model_matches_the_original_summary():
    model = architectures.build("seed")
    assert model.count_params() == 887_530
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
        "Activation",
    ]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [
        (32, (5, 5), "same"),
        (32, (5, 5), "same"),
        (64, (3, 3), "same"),
        (64, (3, 3), "same"),
    ]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.25, 0.25, 0.5]


def test_seed_recipe_is_the_original():
    seed = recipes.get("seed")
    assert (seed.epochs, seed.batch_size, seed.val_fraction) == (30, 86, 0.1)
    model = training.build_model(seed, steps_per_epoch=10)
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.RMSprop)
    assert (float(opt.learning_rate), opt.rho, opt.epsilon) == pytest.approx((1e-3, 0.9, 1e-8))
    assert (seed.plateau.monitor, seed.plateau.patience, seed.plateau.factor, seed.plateau.min_lr) == (
        "val_accuracy",
        3,
        0.5,
        1e-5,
    )
    assert (seed.augmentation.rotation, seed.augmentation.zoom, seed.augmentation.shift) == (10, 0.1, 0.1)
    assert model.layers[0].name == "augment"  # identity at inference, so the net itself is the original


def test_recipe_round_trips_through_a_dict():
    for recipe in recipes.PRESETS.values():
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe  # as config.json stores it


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 0}, "epochs must be an integer from 1 to 100,000"),
        ({"batch_size": 2**21}, "batch_size must be an integer from 1 to 1,048,576"),
        ({"schedule": "zigzag"}, "unknown schedule"),
        ({"optimizer": "lion2"}, "unknown optimizer"),
        ({"precision": "int4"}, "unknown precision"),
        ({"val_fraction": 0.0}, "val_fraction must be > 0"),
        ({"val_fraction": 1.0}, r"val_fraction must be a number in \[0, 1\)"),
    ],
)
def test_invalid_recipes_are_rejected(change, message):
    with pytest.raises(ConfigError, match=message):
        recipes.get("seed").replace(**change)


def test_a_recipe_json_file_or_a_run_config_is_a_recipe(tmp_path):
    custom = recipes.get("fast").replace(name="mine", epochs=2, model_args={"widths": [8, 16, 32], "stem": [5]})
    bare, config = tmp_path / "mine.json", tmp_path / "config.json"
    bare.write_text(json.dumps(custom.to_dict()))
    config.write_text(json.dumps({"recipe": custom.to_dict(), "seed": 0}))
    assert recipes.get(str(bare)) == custom == recipes.get(str(config))
    model = architectures.build(custom.model, **custom.model_args)
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [
        8,
        8,
        16,
        16,
        16,
        32,
    ]  # one 5×5 stem conv, then Deotte's stride-2 5×5 and the two later blocks


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read recipe"),
        ("[1, 2]", "a JSON object"),
        ('{"name": "x"}', "invalid recipe: .*missing"),
        ('{"name": "x", "colour": "red"}', "unknown recipe fields"),
        ('{"name": "x", "model": "seed", "epochs": "ten", "batch_size": 8}', "epochs must be an integer"),
        ('{"name": "x", "model": "seed", "epochs": 1, "batch_size": 8, "augmentation": {"spin": 1}}', "invalid recipe"),
    ],
)
def test_a_bad_recipe_file_is_one_config_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        recipes.get(str(path))
    with pytest.raises(ConfigError, match="cannot read recipe"):
        recipes.get(str(tmp_path / "missing.json"))


def test_unknown_preset_and_model_are_config_errors():
    with pytest.raises(ConfigError, match="unknown preset"):
        recipes.get("turbo")
    with pytest.raises(ConfigError, match="unknown model"):
        architectures.build("resnet1000")
    with pytest.raises(ConfigError, match="downsample must be"):
        architectures.build("deotte", downsample="avg")


def test_deotte_variants_keep_the_shape_contract():
    pooled = architectures.build("deotte", widths=(8, 16, 32), stem=(5,), downsample="pool")
    kinds = [type(layer).__name__ for layer in pooled.layers]
    assert kinds.count("MaxPooling2D") == 2 and kinds.count("Conv2D") == 4
    assert pooled.output_shape == (None, 10)
    assert architectures.build("deotte").count_params() == 326_826  # Deotte's net unchanged by the defaults


@pytest.mark.parametrize("kernel, convs, side", [(3, 10, 8), (5, 5, 8), (7, 4, 4)])
def test_simple_nets_are_an_et_als(kernel, convs, side):
    model = architectures.build("simple", kernel=kernel)
    convolutions = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert len(convolutions) == convs and all(c.kernel_size == (kernel, kernel) for c in convolutions)
    assert convolutions[-1].output.shape[1:3] == (side, side)  # valid convolutions all the way down
    assert model.output_shape == (None, 10)
    for wrong in (4, 3.0, True, "5"):
        with pytest.raises(ConfigError, match="kernel must be one of"):
            architectures.build("simple", kernel=wrong)


@pytest.mark.parametrize("name", ["deotte", "simple"])
@pytest.mark.parametrize("momentum", [0, 1, 1.5, -0.1])
def test_every_bn_net_refuses_a_batch_norm_momentum_outside_0_1(name, momentum):
    with pytest.raises(ConfigError, match=r"bn_momentum must be in \(0, 1\)"):
        architectures.build(name, bn_momentum=momentum)
