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
        ("train:\n  steps: many\n", "must be a int"),
    ],
)
def test_bad_recipes_are_refused(tmp_path, text, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(UserError, match=message):
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
