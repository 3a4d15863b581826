"""``dvc.yaml`` wiring: every stage lists its script and every ``wssam`` module the script imports as deps.

Without this, editing (say) the entropy code would not rerun ``score``; with too broad deps, editing it would
rerun the labelling. Both directions are checked for the modules that matter most.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _stage_body(stage: dict) -> dict:
    return stage.get("do", stage)


def _module_file(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).resolve()
    return path if REPO in path.parents else None


def _imported_modules(source: Path, seen: set[Path] | None = None) -> set[Path]:
    """Files of the ``wssam`` modules that ``source`` imports, transitively."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(source.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wssam"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("wssam")]
        for name in names:
            try:
                path = _module_file(name)
            except ModuleNotFoundError:
                path = None
            if path is not None and path not in seen:
                seen.add(path)
                _imported_modules(path, seen)
    return seen


def _covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


def _deps(stage: dict) -> list[str]:
    return [dep for dep in _stage_body(stage).get("deps", []) if isinstance(dep, str)]


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_cover_its_script_and_imports(name: str) -> None:
    stage = _stages()[name]
    command = _stage_body(stage)["cmd"]
    script = next(part for part in command.split() if part.startswith("stages/"))
    deps = _deps(stage)
    assert script in deps, f"{name}: its script {script} is not a dependency"
    missing = [str(p.relative_to(REPO)) for p in sorted(_imported_modules(REPO / script)) if not _covered(p, deps)]
    assert not missing, f"{name}: imports {missing} but does not list them as deps"


def test_entropy_code_reruns_score_but_not_labelling() -> None:
    stages = _stages()
    entropy = REPO / "wssam" / "scoring" / "entropy.py"
    assert _covered(entropy, _deps(stages["score"]))
    assert not _covered(entropy, _deps(stages["pseudo_label"]))
    assert not _covered(REPO / "wssam" / "models" / "builder.py", _deps(stages["pseudo_label"]))
