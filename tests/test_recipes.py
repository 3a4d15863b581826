"""Recipes: each one composes with params.yaml into parameters every stage accepts, and the `dvc exp run -S`
overrides it produces turn params.yaml into exactly that composition (applied with DVC's own override code)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides
from recipe import PARAMS, ROOT
from typer.testing import CliRunner

from wssam.check_params.stage import validate_params
from wssam.config import read_params
from wssam.io import InputError
from wssam.recipes import app, available, compose, experiment_command, load_recipe, overrides

RECIPES = ROOT / "recipes"


def test_the_paper_recipes_are_there() -> None:
    assert {"cod-scribble", "cod-point", "polyp-scribble", "transparent-scribble"} <= set(available(RECIPES))


@pytest.mark.parametrize("name", available(RECIPES))
def test_each_recipe_gives_valid_parameters_and_dvc_overrides_that_reach_them(name: str, tmp_path: Path) -> None:
    params, recipe = read_params(PARAMS), load_recipe(RECIPES, name)
    composed = compose(params, recipe)
    validate_params(composed, name)
    assert composed["prepare"]["test_sets"] == recipe["prepare"]["test_sets"]  # the demo's set is gone
    shutil.copy(PARAMS, tmp_path / "params.yaml")
    apply_overrides(tmp_path / "params.yaml", overrides(params, recipe))
    assert yaml.safe_load((tmp_path / "params.yaml").read_text()) == composed
    assert "# " in (tmp_path / "params.yaml").read_text()  # the comments that document the keys survive


@pytest.mark.parametrize("first, then", list(itertools.permutations(available(RECIPES), 2)))
def test_a_recipe_run_after_another_gives_its_own_settings(first: str, then: str) -> None:
    """`dvc exp run -S` leaves the experiment's values in params.yaml, and the next recipe starts from them: no
    value of the first may survive the second (cod-point's simulated points stayed in the scribble recipes)."""
    params = read_params(PARAMS)
    after_first = compose(params, load_recipe(RECIPES, first))
    assert compose(after_first, load_recipe(RECIPES, then)) == compose(params, load_recipe(RECIPES, then))


def test_the_cod_recipes_are_the_papers_settings() -> None:
    scribble = compose(read_params(PARAMS), load_recipe(RECIPES, "cod-scribble"))
    assert scribble["pseudo_label"]["sam"]["model_type"] == "vit_h" and len(scribble["pseudo_label"]["views"]) == 12
    assert scribble["score"]["tau"] == 0.03 and scribble["pseudo_label"]["sam"]["output"] == "binary"
    assert scribble["train"]["model"] == {
        "name": "released", "backbone": "resnet50", "backbone_weights": "imagenet", "width": 128, "grouping": True,
    }  # fmt: skip
    assert (scribble["train"]["image_size"], scribble["train"]["batch_size"], scribble["train"]["epochs"]) == (
        384,
        36,
        160,
    )
    assert set(scribble["prepare"]["test_sets"]) == {"CHAMELEON", "CAMO", "COD10K", "NC4K"}


def test_a_recipe_with_a_bad_key_stops_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("score:\n  taux: 0.3\n")
    with pytest.raises(InputError, match="unknown parameter 'score.taux'"):
        experiment_command(PARAMS, tmp_path, "broken", [])
    with pytest.raises(InputError, match="no recipe 'absent'; known recipes: broken"):
        load_recipe(tmp_path, "absent")


def test_show_prints_the_experiment_command(tmp_path: Path) -> None:
    (tmp_path / "short.yaml").write_text(
        yaml.safe_dump({"train": {"epochs": 3}, "prepare": {"test_sets": {"X": "data/raw/X"}}})
    )
    done = CliRunner().invoke(app, ["show", "short", "--recipes-dir", str(tmp_path), "--params", str(PARAMS)])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == (
        "dvc exp run -S '~prepare.test_sets.demo_test' -S +prepare.test_sets.X=data/raw/X -S train.epochs=3"
    )
