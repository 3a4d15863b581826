"""The package tells the pipeline: each stage's package imports only the shared ground and the stages before it,
the networks import no training code, and no module imports itself back through a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wssam"
SHARED_GROUND = {"config", "io", "staging", "pixels", "labels", "devices", "cli", "launcher", "distributed"}
#: what each part of wssam may import besides the shared ground (data flows down the pipeline)
ALLOWED = {
    # first in the pipeline but reads every stage's config (configs only: see test_check_params_imports_configs_only)
    "check_params": {"prepare", "pseudo_label", "score", "models", "train", "predict", "evaluate", "report"},
    "prepare": set(),
    "pseudo_label": {"prepare"},
    "score": {"prepare", "pseudo_label"},
    "models": set(),
    "train": {"prepare", "score", "models"},
    "predict": {"prepare", "models"},
    "evaluate": set(),
    "report": {"prepare", "pseudo_label", "score", "predict", "evaluate"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The wssam modules ``path`` imports (``from a.b import c`` counts as a.b)."""
    tree = ast.parse(path.read_text())
    nodes = _module_level(tree.body) if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wssam"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("wssam")}
    return found


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import, including those inside module-level ``if`` (``TYPE_CHECKING`` too) and ``try``."""
    nodes = []
    for node in body:
        nodes.append(node)
        if isinstance(node, ast.If | ast.Try):
            nodes += _module_level(node.body + node.orelse)
    return nodes


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_comes_before_it(part: str) -> None:
    allowed = SHARED_GROUND | ALLOWED[part] | {part}
    for path in sorted((PACKAGE / part).rglob("*.py")):
        imported = {_part(module) for module in _imports(path, top_level_only=False)}
        assert imported <= allowed, f"{path.relative_to(PACKAGE)} imports {sorted(imported - allowed)}"


def test_the_shared_ground_imports_no_stage() -> None:
    for name in SHARED_GROUND:
        imported = {_part(module) for module in _imports(PACKAGE / f"{name}.py", top_level_only=False)}
        assert imported <= SHARED_GROUND, f"wssam/{name}.py imports {sorted(imported - SHARED_GROUND)}"


def test_no_import_circle() -> None:
    graph = {_module_name(path): {m for m in _imports(path, top_level_only=True)} for path in PACKAGE.rglob("*.py")}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        assert module not in trail, f"import circle: {' -> '.join([*trail[trail.index(module) :], module])}"
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_check_params_imports_configs_only() -> None:
    """The params check runs before everything and must stay cheap: stage configs and file layouts only, no
    torch."""
    for path in (PACKAGE / "check_params").rglob("*.py"):
        for module in _imports(path, top_level_only=False):
            part = _part(module)
            if part not in SHARED_GROUND | {"check_params"}:
                assert module.endswith((".config", ".layout")), f"{path.relative_to(PACKAGE)} imports {module}"
