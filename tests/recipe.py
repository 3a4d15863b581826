"""Test helpers: configs built from the project's own params.yaml (the one recipe), and the shared fixtures."""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from wssam.config import Config, build_config, read_params

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"

C = TypeVar("C", bound=Config)


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, nested mappings key by key (``base`` is not modified)."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def params_section(section: str, **changes: Any) -> dict[str, Any]:
    """The ``section`` of params.yaml as a mapping, with ``changes`` merged in."""
    return merge(read_params(PARAMS)[section], changes)


def recipe(cls: type[C], section: str, **changes: Any) -> C:
    """The config ``cls`` of params.yaml's ``section``, with ``changes`` merged in (validated like the stage does)."""
    return build_config(cls, params_section(section, **changes), section)


def shared_fixture(name: str) -> Path:
    """The folder ``../shared/fixtures/<name>``: skipped with a reason where it is absent, a failure in CI."""
    folder = SHARED_FIXTURES / name
    if not folder.is_dir():
        message = f"fixture {folder} is absent (the shared fixtures sit beside the repository, not in it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; in CI (CI=true) a conformance check must not be skipped")
        pytest.skip(message)
    return folder


def stage_app(name: str) -> Any:
    """The typer app of ``stages/<name>.py``, for typer's ``CliRunner`` (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def write_params(path: Path, **sections: dict[str, Any]) -> Path:
    """A params file at ``path``: the project's params.yaml with ``sections`` merged in."""
    params = read_params(PARAMS)
    for section, changes in sections.items():
        params[section] = merge(params[section], changes)
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path
