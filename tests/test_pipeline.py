"""End to end: the real ``dvc.yaml`` on a tiny configuration, in a temporary copy of the repository (slow tier).

Checks that every stage runs, that every metrics file exists with finite values, that a second ``dvc repro`` runs
nothing, that a parameter of the labeler not in use and an edit of the training loss leave the stages that do not
use them up to date, and that changing only ``score.tau`` reruns ``score`` and what follows but not the
``pseudo_label`` stages.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from wssam.evaluate.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[1]
VIEWS = ["identity", "hflip_rot90"]
TINY = {
    "prepare": {"synthetic": {"image_size": 64, "train_images": 10, "test_images": 4}},
    "pseudo_label": {"views": VIEWS},
    "score": {"tau": 1.0},
    "train": {"epochs": 1, "batch_size": 4, "image_size": 64, "model": {"width": 16}},
}

pytestmark = pytest.mark.slow


def _merge(base: dict, update: dict) -> dict:
    for key, value in update.items():
        if isinstance(value, dict):
            _merge(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="wssam tests",
        GIT_AUTHOR_EMAIL="tests@wssam.invalid",
        GIT_COMMITTER_NAME="wssam tests",
        GIT_COMMITTER_EMAIL="tests@wssam.invalid",
    )
    return env


def _run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, env=_environment(), capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output[-4000:]}"
    return output


def _dvc(*args: str, cwd: Path) -> str:
    return _run([sys.executable, "-m", "dvc", *args], cwd)


def _copy_project(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for relative in listed:
        source = REPO / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _set_params(project: Path, update: dict) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(_merge(params, update), sort_keys=False))


def _reproduced_tiny_project(root: Path, params: dict) -> Path:
    """This project copied to ``root`` with ``params`` merged into params.yaml, committed to a new git repository,
    and ``dvc repro`` run once; returns ``root``."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed; the DVC pipeline needs a git repository")
    _copy_project(root)
    _set_params(root, params)
    _run(["git", "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "tiny configuration"], root)
    _dvc("repro", cwd=root)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _reproduced_tiny_project(tmp_path_factory.mktemp("pipeline") / "wssam", TINY)


def _finite_numbers(data: object) -> list[float]:
    if isinstance(data, dict):
        return [x for value in data.values() for x in _finite_numbers(value)]
    if isinstance(data, list):
        return [x for value in data for x in _finite_numbers(value)]
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        assert math.isfinite(data), "a metric is not finite"
        return [float(data)]
    return []


def test_every_metrics_file_exists_with_finite_values(project: Path) -> None:
    test_sets = yaml.safe_load((project / "params.yaml").read_text())["prepare"]["test_sets"]
    expected = ["pseudo_labels.json", "train.json", *[f"test/{name}.json" for name in test_sets]]
    for name in expected:
        metrics = json.loads((project / "metrics" / name).read_text())
        assert _finite_numbers(metrics), f"metrics/{name} holds no number"
    for name in test_sets:
        evaluation = json.loads((project / "metrics" / "test" / f"{name}.json").read_text())
        assert set(evaluation) == set(METRIC_NAMES)
        assert list((project / "data" / "predictions" / name).glob("*.png"))
    assert json.loads((project / "metrics" / "train.json").read_text())["params_millions"] > 0


def test_the_report_shows_every_figure_offline(project: Path) -> None:
    test_sets = yaml.safe_load((project / "params.yaml").read_text())["prepare"]["test_sets"]
    page = (project / "reports" / "index.html").read_text()
    plots = sorted(p.name for p in (project / "reports" / "plots").glob("*.png"))
    assert plots == sorted(
        ["training.png", "precision_recall.png", "fmeasure.png", "emeasure.png", "entropy_vs_iou.png",
         "entropy_histogram.png"]
    )  # fmt: skip
    galleries = sorted(p.name for p in (project / "reports" / "galleries").glob("*.png"))
    assert galleries == sorted(["train.png", *[f"test_{name}.png" for name in test_sets]])
    assert page.count("<img ") == len(plots) + len(galleries) and "http" not in page.replace("http-equiv", "")
    summary = (project / "metrics" / "summary.md").read_text()
    for name in test_sets:
        smeasure = json.loads((project / "metrics" / "test" / f"{name}.json").read_text())["Smeasure"]
        assert f"| {name} | {smeasure:.4f} |" in summary
    assert "dvc_plots" not in {p.name for p in project.iterdir()}
    scored = json.loads((project / "metrics" / "pseudo_labels_as_predictions.json").read_text())
    assert set(scored) == set(METRIC_NAMES) and all(0 <= scored[name] <= 1 for name in METRIC_NAMES)


def test_a_report_stopped_part_way_leaves_the_last_one_whole(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page, plots and galleries were written one by one into reports/: a stop after the first plots left them
    beside the older page, or beside none. (The older run's plot is marked: this run would draw the same bytes.)"""
    from wssam.report import stage as report_stage

    plot = project / "reports" / "plots" / "training.png"
    drawn = plot.read_bytes()
    plot.write_bytes(b"the older run's plot")
    kept = [*sorted((project / "reports").rglob("*")), project / "metrics" / "summary.md",
            project / "metrics" / "pseudo_labels_as_predictions.json"]  # fmt: skip
    before = {str(path): path.read_bytes() for path in kept if path.is_file()}

    def stopped(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report_stage, "_test_gallery", stopped)
    monkeypatch.chdir(project)
    with pytest.raises(KeyboardInterrupt):  # the other figures were drawn: training.png is the first
        report_stage.report(
            params="params.yaml", prepared="data/prepared", views_dir="data/pseudo_labels/views",
            scored_dir="data/pseudo_labels/scored", train_log="data/train_log", predictions="data/predictions",
            evaluation="data/evaluation", test_metrics="metrics/test",
            pseudo_label_metrics="metrics/pseudo_labels.json", train_metrics="metrics/train.json", output="reports",
            summary="metrics/summary.md",
            pseudo_label_scores="metrics/pseudo_labels_as_predictions.json",
        )  # fmt: skip
    now = [*sorted((project / "reports").rglob("*")), *kept[-2:]]
    after = {str(path): path.read_bytes() for path in now if path.is_file()}
    plot.write_bytes(drawn)
    assert after == before
    assert not [path for path in project.iterdir() if "wssam-tmp" in path.name]


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND",
]  # fmt: skip  # the last flag: no host name resolves, so the page must need no network


def test_the_report_opens_offline_in_a_real_browser_with_every_image(project: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it where it can")
    page = (project / "reports" / "index.html").resolve().as_uri()
    flags = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=10000", "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    images = (project / "reports" / "index.html").read_text().count("<img ")
    assert f'data-images-loaded="{images}"' in dom and 'data-images-broken="0"' in dom, dom[:300]
    assert "<table>" in dom and "Test sets" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--window-size=1400,2000", f"--screenshot={shot}", page], capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2000, 1400) and pixels.std() > 10  # a page with tables and figures, not a blank one


def test_second_repro_runs_nothing(project: Path) -> None:
    output = _dvc("repro", cwd=project)
    assert "Running stage" not in output


def _stale_stages(project: Path) -> set[str]:
    """Names of the stages ``dvc status`` reports as changed."""
    report = json.loads(_dvc("status", "--json", cwd=project).strip().splitlines()[-1] or "{}")
    return set(report)


def test_a_parameter_of_the_labeler_not_in_use_changes_nothing(project: Path) -> None:
    """Only the params check (cheap, no torch) and the report (a few seconds), which read the whole file, see every
    edit of params.yaml."""
    assert yaml.safe_load((project / "params.yaml").read_text())["pseudo_label"]["labeler"] == "random_walker"
    _set_params(project, {"pseudo_label": {"sam": {"precision": "fp32", "model_type": "vit_b"}}})
    assert _stale_stages(project) == {"check_params", "report"}
    _set_params(project, {"pseudo_label": {"random_walker": {"beta": 90.0}}})
    assert _stale_stages(project) == {"check_params", "report", *(f"pseudo_label@{view}" for view in VIEWS)}
    _set_params(project, {"pseudo_label": {"random_walker": {"beta": 130.0}, "sam": {"precision": "auto"}}})
    _set_params(project, {"pseudo_label": {"sam": {"model_type": "vit_h"}}})
    assert _stale_stages(project) == set()


def test_editing_the_training_loss_leaves_prediction_and_evaluation_up_to_date(project: Path) -> None:
    losses = project / "wssam" / "train" / "losses.py"
    original = losses.read_text()
    losses.write_text(original + "\n# an edit\n")
    try:
        assert _stale_stages(project) == {"train"}
    finally:
        losses.write_text(original)
    assert _stale_stages(project) == set()


def test_changing_tau_reruns_score_but_not_labelling(project: Path) -> None:
    _set_params(project, {"score": {"tau": 0.9}})
    output = _dvc("repro", cwd=project)
    assert "Running stage 'score'" in output
    assert "Running stage 'pseudo_label@" not in output
    assert "Running stage 'prepare'" not in output
