import re

import pytest

from edgeunlearn import config
from edgeunlearn.errors import UserError


def test_yaml_recipe_then_command_line_wins(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: ga\nseed: 3\ntrain:\n  steps: 7\n  lora_rank: 4\nquantize:\n  types: [Q8_0]\n")
    cfg = config.resolve(recipe, {"seed": 9, "train.steps": None, "quantize.types": "Q4_0,Q8_0"})
    assert (cfg.method, cfg.seed, cfg.train.steps, cfg.train.lora_rank) == ("ga", 9, 7, 4)
    assert cfg.quantize.types == ("Q4_0", "Q8_0")


def test_toml_recipe(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('method = "npo"\n[method_args]\nbeta = 0.5\n')
    cfg = config.resolve(recipe, {})
    assert cfg.method == "npo" and cfg.method_args.beta == 0.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("stepz: 3\n", "unknown recipe key 'stepz'"),
        ("train:\n  lr: 1\n", "unknown recipe train key 'lr'"),
        ("train: 5\n", "must be a mapping"),
        ("train:\n  steps: many\n", "train key 'steps' must be a number, got 'many'"),
        ('train:\n  sure: "no"\n', "train key 'sure' must be true or false, got 'no'"),
        ("train:\n  steps: true\n", "train key 'steps' must be a number, got True"),
        ("train:\n  steps: 2.5\n", "train key 'steps' must be a whole number, got 2.5"),
        ("train:\n  learning_rate: .nan\n", "must be a finite number"),
        ("method: 5\n", "recipe key 'method' must be text, got 5"),
        ("forget: [a.jsonl]\n", "recipe key 'forget' must be text"),
        ("quantize:\n  types: [1]\n", "quantize key 'types' item must be text, got 1"),
        ("quantize:\n  mlx_bits: [four]\n", "quantize key 'mlx_bits' item must be a number"),
        ("train:\n  snap_gains: 4\n", "train key 'snap_gains' must be a list"),
    ],
)
def test_bad_recipes_are_refused(tmp_path, text, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        config.resolve(recipe, {})


def test_every_shipped_recipe_loads_and_names_valid_methods_and_types():
    from pathlib import Path

    from edgeunlearn.methods import get_method
    from edgeunlearn.pipeline.inputs import data_path, quant_plan

    recipes = sorted((Path(__file__).parent.parent / "recipes").glob("*.yaml"))
    assert recipes
    for recipe in recipes:
        cfg = config.resolve(recipe, {})
        get_method(cfg.method)
        quant_plan(cfg, "Q4_1")
        assert data_path(cfg.forget).exists() and data_path(cfg.retain).exists()


def test_recipe_values_of_the_right_type_are_taken_as_they_mean():
    cfg = config.build(config.RunConfig, {"train": {"steps": 4.0, "learning_rate": 1, "snap_gains": "1, 2.5"}})
    assert cfg.train.steps == 4 and isinstance(cfg.train.steps, int) and cfg.train.learning_rate == 1.0
    assert cfg.train.snap_gains == (1.0, 2.5) and config.build(config.RunConfig, {"reference": None}).reference is None
