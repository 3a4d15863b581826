"""Recipes: the paper's settings as named, versioned parameter sets, applied as DVC experiments.

A recipe is ``recipes/<name>.yaml``: the sections and keys of ``params.yaml`` it sets (a partial params file; a
mapping of test sets replaces the demo's whole). ``python -m wssam.recipes run <name>`` turns it into the
``dvc exp run -S ...`` overrides that move the current ``params.yaml`` to the recipe (Hydra's override grammar, which
``-S`` speaks: ``key=value``, ``+key=value`` to add a key, ``~key`` to delete one), after validating the composed
parameters section by section, so a recipe with a typo stops before anything runs.

Why not DVC's Hydra composition (``dvc config hydra.enabled true``): it rewrites ``params.yaml`` from ``conf/`` at
every ``dvc exp run``, dropping the comments that document every key there, makes ``dvc repro`` and ``dvc exp run``
read different sources, and cannot replace a mapping such as ``prepare.test_sets`` without splitting the defaults into
config groups. Overrides keep ``params.yaml`` the one recipe of the workspace and record every change in the
experiment.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wssam.check_params.stage import validate_params
from wssam.cli import reports_input_errors
from wssam.config import read_params
from wssam.io import InputError

#: mappings whose keys are names chosen by the user: a recipe's value replaces them whole
FREE_MAPPINGS = {"prepare.test_sets"}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")  # a string Hydra's grammar reads unquoted
_LOOKS_TYPED = re.compile(r"(?i)true|false|null|nan|inf")  # ... unless it would read as another type


def available(recipes_dir: str | os.PathLike[str]) -> list[str]:
    """The recipe names in ``recipes_dir``, sorted."""
    return sorted(path.stem for path in Path(recipes_dir).glob("*.yaml"))


def load_recipe(recipes_dir: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The partial params of recipe ``name``; an unknown name lists the known ones."""
    path = Path(recipes_dir) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available(recipes_dir)) or "none"
        raise InputError(f"{path}: no recipe '{name}'; known recipes: {known}")
    return read_params(path)  # a mapping of params.yaml sections, like params.yaml itself


def compose(params: dict[str, Any], recipe: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``params`` with ``recipe`` merged in key by key (free mappings replaced whole); ``params`` is not changed."""
    composed = copy.deepcopy(params)
    for key, value in recipe.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in FREE_MAPPINGS and isinstance(composed.get(key), dict):
            composed[key] = compose(composed[key], value, f"{path}.")
        else:
            composed[key] = copy.deepcopy(value)
    return composed


def overrides(params: dict[str, Any], recipe: dict[str, Any], prefix: str = "") -> list[str]:
    """The ``dvc exp run -S`` overrides (Hydra grammar) that turn ``params`` into ``compose(params, recipe)``."""
    found: list[str] = []
    for key, value in recipe.items():
        path, current = f"{prefix}{key}", params.get(key) if isinstance(params, dict) else None
        if isinstance(value, dict) and path not in FREE_MAPPINGS and isinstance(current, dict):
            found += overrides(current, value, f"{path}.")
        elif isinstance(value, dict) and path in FREE_MAPPINGS:
            old = current if isinstance(current, dict) else {}
            found += [f"~{path}.{name}" for name in old if name not in value]
            found += [f"{'' if name in old else '+'}{path}.{name}={_format(item)}" for name, item in value.items()]
        elif key not in (params or {}):
            found.append(f"+{path}={_format(value)}")
        elif current != value:
            found.append(f"{path}={_format(value)}")
    return found


def _format(value: Any) -> str:
    """A value in Hydra's override grammar (strings quoted, lists bracketed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_format(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.fullmatch(text) and not _LOOKS_TYPED.fullmatch(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def experiment_command(params_path: Path, recipes_dir: Path, name: str, extra: list[str]) -> list[str]:
    """``dvc exp run -S ...`` for recipe ``name`` over the params file, after validating the result."""
    params = read_params(params_path)
    recipe = load_recipe(recipes_dir, name)
    validate_params(compose(params, recipe), f"{params_path} with recipe {name}")
    command = ["dvc", "exp", "run"]
    for override in overrides(params, recipe):
        command += ["-S", override]
    return command + extra


app = typer.Typer(add_completion=False, no_args_is_help=True)
ParamsOption = Annotated[Path, typer.Option(help="The workspace's parameter file.")]
RecipesOption = Annotated[Path, typer.Option(help="Folder of the recipes.")]


@app.callback()
def recipes() -> None:
    """The paper's settings as named parameter sets, run as DVC experiments."""


@app.command("list")
@reports_input_errors
def list_recipes(recipes_dir: RecipesOption = Path("recipes")) -> None:
    """List the recipes with the first line of each."""
    for name in available(recipes_dir):
        first = (recipes_dir / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name:24s}{first}")


@app.command()
@reports_input_errors
def show(name: str, params: ParamsOption = Path("params.yaml"), recipes_dir: RecipesOption = Path("recipes")) -> None:
    """Print the `dvc exp run` command that applies recipe NAME to the workspace's parameters."""
    print(shlex.join(experiment_command(params, recipes_dir, name, [])))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@reports_input_errors
def run(
    ctx: typer.Context,
    name: str,
    params: ParamsOption = Path("params.yaml"),
    recipes_dir: RecipesOption = Path("recipes"),
) -> None:
    """Run recipe NAME as a DVC experiment; further arguments go to `dvc exp run` (e.g. --queue, --temp)."""
    command = experiment_command(params, recipes_dir, name, list(ctx.args))
    print(shlex.join(command), flush=True)
    raise SystemExit(subprocess.run([sys.executable, "-m", *command], check=False).returncode)


if __name__ == "__main__":
    app(prog_name="python -m wssam.recipes")
