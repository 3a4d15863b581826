"""``dvc.yaml`` wiring: each stage is found from its name, lists its script and every ``wssam`` module the script
imports as deps, and nothing more that would rerun it needlessly.

Without the first, editing (say) the entropy code would not rerun ``score``; with too broad deps, editing the loss
would rerun prediction. Both directions are checked for the modules that matter most.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shlex
import subprocess
import sys
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
    """Files of the ``wssam`` modules that ``source`` imports, transitively (lazy imports inside functions too)."""
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


def _script(stage: dict) -> str:
    return next(part for part in _stage_body(stage)["cmd"].split() if part.startswith("stages/"))


@pytest.mark.parametrize("name", sorted(_stages()))
def test_a_stage_is_found_from_its_name(name: str) -> None:
    """Stage X runs stages/X.py, whose work is the function X of wssam/X/stage.py (with its config beside it)."""
    stage = _stages()[name]
    assert _script(stage) == f"stages/{name}.py"
    core = importlib.import_module(f"wssam.{name}.stage")
    assert callable(getattr(core, name)), f"wssam.{name}.stage has no function {name}"
    called = {
        node.func.id
        for node in ast.walk(ast.parse((REPO / "stages" / f"{name}.py").read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert name in called, f"stages/{name}.py does not call {name}()"


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_deps_cover_its_script_and_imports(name: str) -> None:
    stage = _stages()[name]
    script = _script(stage)
    deps = _deps(stage)
    assert script in deps, f"{name}: its script {script} is not a dependency"
    missing = [str(p.relative_to(REPO)) for p in sorted(_imported_modules(REPO / script)) if not _covered(p, deps)]
    assert not missing, f"{name}: imports {missing} but does not list them as deps"


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_scripts_have_no_path_defaults(name: str) -> None:
    """dvc.yaml is the one map of the disk: every path reaches the script on its command line."""
    tree = ast.parse((REPO / "stages" / f"{name}.py").read_text())
    main = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "main")
    defaults = [d for d in [*main.args.defaults, *main.args.kw_defaults] if d is not None]
    for default in defaults:
        is_path = isinstance(default, ast.Call) and ast.unparse(default.func) == "Path"
        is_text = isinstance(default, ast.Constant) and isinstance(default.value, str)
        assert not (is_path or is_text), f"stages/{name}.py: default {ast.unparse(default)}"
    assert len(defaults) < len(main.args.args), "the paths must be required options"


def test_entropy_code_reruns_score_but_not_labelling() -> None:
    stages = _stages()
    entropy = REPO / "wssam" / "score" / "entropy.py"
    assert _covered(entropy, _deps(stages["score"]))
    assert not _covered(entropy, _deps(stages["pseudo_label"]))
    assert not _covered(REPO / "wssam" / "models" / "builder.py", _deps(stages["pseudo_label"]))


@pytest.mark.parametrize("module", ["wssam/train/losses.py", "wssam/train/loop.py", "wssam/train/stage.py"])
def test_training_code_does_not_rerun_prediction_or_evaluation(module: str) -> None:
    stages = _stages()
    assert _covered(REPO / module, _deps(stages["train"]))
    for name in ("predict", "evaluate"):
        assert not _covered(REPO / module, _deps(stages[name])), f"{name} would rerun after editing {module}"


def test_view_stages_depend_on_the_labeler_in_use_only() -> None:
    body = _stage_body(_stages()["pseudo_label"])
    assert "pseudo_label.${pseudo_label.labeler}" in body["params"]
    assert "data/labelers/${pseudo_label.labeler}" in body["deps"]
    assert "--labeler-dir data/labelers/${pseudo_label.labeler}" in body["cmd"]
    assert not {"pseudo_label.sam", "pseudo_label.random_walker", "pseudo_label"} & set(body["params"])


def test_training_depends_on_the_folder_of_backbone_weights_files() -> None:
    """train.model.backbone_weights names a file: the parameter is only its path, so replacing the file at the same
    path left train up to date. Files in data/backbones/ are a dependency; the folder exists in a clean clone and
    git keeps the weights out (DVC tracks them)."""
    assert "data/backbones" in _deps(_stages()["train"])
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "data/backbones"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    assert tracked == ["data/backbones/.gitkeep"]
    ignored = subprocess.run(["git", "check-ignore", "data/backbones/resnet50.pth"], cwd=REPO, capture_output=True,
                             text=True, check=False).stdout.split()  # fmt: skip
    assert ignored == ["data/backbones/resnet50.pth"]


def test_the_params_check_comes_first_and_depends_on_the_whole_params_file() -> None:
    """A typo changes no stage's declared keys: only a stage depending on the whole file notices it."""
    stages = _stages()
    check = stages["check_params"]
    assert "params.yaml" in check["deps"] and "params" not in check
    marker = next(part for part in check["cmd"].split() if part.startswith("data/"))
    assert check["outs"] == [{marker: {"persist": True}}] and marker in stages["prepare"]["deps"]


def test_the_resume_point_is_no_output_and_stays_out_of_git() -> None:
    """Declared `cache: false`, last.pt was committed by every `dvc exp run` (153 MB on the demo)."""
    outs = _stage_body(_stages()["train"])["outs"]
    assert not [out for out in outs if "last.pt" in str(out)]
    ignored = ["data/model/last.pt", "data/model/last.pt.unusable", "dvc_plots/index.html"]
    ignored += ["data/.prepared.k2x9.wssam-tmp/train/a.png", "metrics/.train.json.k2x9.wssam-tmp.json"]
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", *ignored], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.stdout.split() == ignored


def test_dvc_ignores_the_temporaries_a_killed_stage_leaves() -> None:
    """Otherwise a staging folder left by SIGKILL changes the hash of the folder `score` depends on."""
    temporaries = ["data/pseudo_labels/views/.identity.k2x9.wssam-tmp", "data/model/.model.pt.k2x9.wssam-tmp.pt"]
    kept = ["data/pseudo_labels/views/identity", "data/model/model.pt"]
    result = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", *temporaries, *kept], cwd=REPO,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.stdout.split() == temporaries, result.stderr


def test_dvc_ignores_pythons_compiled_files_beside_the_code_stages_depend_on() -> None:
    """Running a stage writes wssam/<part>/__pycache__/ (where bytecode writing is on, Python's default): hashed into
    the code folders in the stages' deps, every stage looked changed after a run."""
    compiled = ["wssam/train/__pycache__/loop.cpython-311.pyc", "wssam/__pycache__/io.cpython-311.pyc"]
    kept = ["wssam/train/loop.py", "wssam/io.py"]
    result = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", *compiled, *kept], cwd=REPO,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.stdout.split() == compiled, result.stderr


def test_prediction_reads_the_checkpoint_params_yaml_names_and_by_default_trains_it() -> None:
    body = _stage_body(_stages()["predict"])
    assert "--checkpoint '${predict.checkpoint}'" in body["cmd"] and "${predict.checkpoint}" in body["deps"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["predict"]["checkpoint"] in [str(out) for out in _stages()["train"]["outs"] if isinstance(out, str)]


def test_the_committed_lock_records_exactly_the_pipelines_stages() -> None:
    """DVC updates the lock entries of the stages it runs and never prunes the others: a view dropped from
    ``pseudo_label.views`` kept its ``pseudo_label@<view>`` entry, describing a stage that no longer exists."""
    from dvc.repo import Repo

    lock = REPO / "dvc.lock"
    if not lock.exists():
        pytest.skip("no dvc.lock in this checkout")
    live = {stage.addressing for stage in Repo(str(REPO)).index.stages}
    recorded = set(yaml.safe_load(lock.read_text())["stages"])
    assert recorded == live, f"stale in dvc.lock: {sorted(recorded - live)}; not in it: {sorted(live - recorded)}"


@pytest.mark.parametrize(
    ("stage", "key", "option"),
    [("pseudo_label", "pseudo_label.cache_dir", "--cache-dir"), ("predict", "predict.checkpoint", "--checkpoint")],
)
def test_a_path_with_spaces_reaches_the_stage_as_one_argument(stage: str, key: str, option: str) -> None:
    """DVC puts a parameter's value into the command as it is and runs it in a shell: a shared cache on
    '/mnt/shared drive' arrived as two arguments. The params check refuses what the quotes cannot hold."""
    from wssam.config import CommandPath, Config, build_config
    from wssam.io import InputError

    path = "/mnt/shared drive/cache $HOME;x"
    command = _stage_body(_stages()[stage])["cmd"].replace("${" + key + "}", path)
    words = shlex.split(command)  # what sh makes of it (no variable inside single quotes)
    assert words[words.index(option) + 1] == path

    class Holder(Config):
        path: CommandPath

    assert Holder(path=path).path == path
    with pytest.raises(InputError, match=r"parameter 'x.path' .* may not hold a quote"):
        build_config(Holder, {"path": "it's here"}, "x")
