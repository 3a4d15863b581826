"""Reliability under the real ``dvc repro`` (slow tier), in a temporary copy of the repository on a tiny config:

- a typo in any section of params.yaml stops ``dvc repro`` with one line (every stage was skipped before);
- ``dvc repro --force`` retrains, and twice in a row gives the same dvc.lock, hash for hash;
- a labelling stage killed (SIGKILL or SIGTERM) at any moment, then ``dvc repro``: it completes, every file under
  data/ equals the uninterrupted run's, nothing temporary is left under data/, dvc.lock is identical; what SIGKILL
  left in the repository's DVC area (staging.DVC_TEMPORARY_AREA) goes when that stage runs again;
- killing the ``dvc`` process stops its stage (no orphan overwriting outputs later);
- ``dvc exp run`` commits no resume point (``last.pt``).

One view, ``scale4``, labels at four times the tiny images' side so that a kill lands while it works.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from test_pipeline import _dvc, _environment, _reproduced_tiny_project, _run, _set_params

from wssam.staging import is_temporary

pytestmark = pytest.mark.slow

SLOW_VIEW = "scale4"
TINY = {
    "prepare": {"synthetic": {"image_size": 64, "train_images": 16, "test_images": 4}},
    "pseudo_label": {"views": ["identity", SLOW_VIEW]},
    "score": {"tau": 1.0},
    "train": {"epochs": 1, "batch_size": 4, "image_size": 64, "model": {"width": 16}},
}
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _reproduced_tiny_project(tmp_path_factory.mktemp("reliability") / "wssam", TINY)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "first run"], root)
    return root


def _snapshot(project: Path) -> dict[str, str]:
    """SHA-256 of every file under data/ (the resume point aside: it holds its training time) and of dvc.lock."""
    files = [p for p in sorted((project / "data").rglob("*")) if p.is_file() and p.name != "last.pt"]
    files.append(project / "dvc.lock")
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _temporaries(project: Path) -> list[str]:
    """wssam temporaries under data/ (there must never be any) and in DVC's temporary area."""
    places = [project / "data", project / ".dvc" / "tmp" / "wssam"]
    return [str(p.relative_to(project)) for place in places for p in place.rglob("*") if is_temporary(p)]


def _in_data(temporaries: list[str]) -> list[str]:
    return [path for path in temporaries if path.startswith("data/")]


def _dvc_failing(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=_environment(), capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"score": {"taux": 0.3}}, "score.taux"),
        ({"pseudo_label": {"labler": "sam"}}, "pseudo_label.labler"),
        ({"prepare": {"max_image": 4}}, "prepare.max_image"),
        ({"train": {"lr": "fast"}}, "train.lr"),
    ],
)
def test_a_typo_in_params_stops_dvc_repro_with_one_line(project: Path, change: dict, key: str) -> None:
    params = project / "params.yaml"
    original = params.read_text()
    _set_params(project, change)
    try:
        result = _dvc_failing("repro", cwd=project)
        assert result.returncode != 0, "dvc repro skipped every stage and exited 0"
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and f"'{key}'" in errors[0], result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        params.write_text(original)
    assert _dvc_failing("status", "--json", cwd=project).stdout.strip().splitlines()[-1] == "{}"


def test_repro_force_retrains_and_twice_gives_identical_hashes(project: Path) -> None:
    before = _snapshot(project)
    for _ in range(2):
        output = _dvc("repro", "--force", cwd=project)
        assert "epoch 1/1:" in output and "resuming" not in output, "a forced run must train, not resume"
        assert _snapshot(project) == before


def _stage_process(dvc: subprocess.Popen[str], script: str) -> psutil.Process:
    """The stage process (running ``stages/<script>``) that ``dvc`` started."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for child in psutil.Process(dvc.pid).children(recursive=True):
            try:
                if any(part.endswith(f"stages/{script}") for part in child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        assert dvc.poll() is None, "dvc ended before its stage could be found"
        time.sleep(0.02)
    raise AssertionError(f"no process runs stages/{script}")


def _forget_cached_maps(project: Path) -> None:
    """Empty the project's per-image cache of maps (pseudo_label.cache_dir), which an earlier test filled: with
    every map cached the view stage labels nothing, and there is no labelling to interrupt."""
    shutil.rmtree(project / "cache", ignore_errors=True)


def _start_labelling(project: Path, *, keep_output: bool = False) -> tuple[subprocess.Popen[str], psutil.Process]:
    """``dvc repro --force`` of the slow view with an empty cache of maps; returns dvc and its stage process.
    ``keep_output``: dvc's output can be read with ``communicate`` (else it is discarded)."""
    _forget_cached_maps(project)
    stream = subprocess.PIPE if keep_output else subprocess.DEVNULL
    dvc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", f"pseudo_label@{SLOW_VIEW}"],
        cwd=project, env=_environment(), stdout=stream, stderr=subprocess.STDOUT if keep_output else stream, text=True,
    )  # fmt: skip
    return dvc, _stage_process(dvc, "pseudo_label.py")


def _wait_for_maps(project: Path, name: str, maps: int, stage: psutil.Process) -> None:
    """Wait until the staging folder that ``stage`` made for the view ``name`` holds ``maps`` files (the stage is
    labelling); an older one, left by SIGKILL, does not count."""
    deadline = time.monotonic() + TIMEOUT_S
    area = project / ".dvc" / "tmp" / "wssam"
    while time.monotonic() < deadline:
        found = area.glob(f".{name}.*") if area.is_dir() else []
        staging = [p for p in found if p.is_dir() and is_temporary(p) and p.stat().st_mtime >= stage.create_time()]
        if staging and len(list(staging[0].iterdir())) >= maps:
            return
        assert stage.is_running(), "the stage ended before the moment to kill it"
        time.sleep(0.02)
    raise AssertionError("the stage wrote no map")


@pytest.mark.parametrize(
    ("signum", "moment"),
    [(signal.SIGKILL, 0), (signal.SIGKILL, 1), (signal.SIGKILL, 12), (signal.SIGTERM, 0), (signal.SIGTERM, 6)],
)
def test_a_killed_labelling_stage_then_repro_gives_the_uninterrupted_result(
    project: Path, signum: int, moment: int
) -> None:
    """``moment``: maps written before the kill (0: while the stage is still starting up). Under DVC the staging
    folder is in the repository's DVC area: after SIGKILL it stays there (DVC restores the view from its cache
    without running the stage), never in data/, until the stage runs again."""
    before = _snapshot(project)
    dvc, stage = _start_labelling(project, keep_output=True)
    if moment:
        _wait_for_maps(project, SLOW_VIEW, moment, stage)
    stage.send_signal(signum)
    output, _ = dvc.communicate(timeout=TIMEOUT_S)
    assert dvc.returncode != 0, output
    if signum == signal.SIGTERM and moment:  # at start-up Python has not installed the handler yet
        assert "stopped (SIGTERM): outputs left as they were, temporary files removed" in output
        assert _temporaries(project) == []
    assert _in_data(_temporaries(project)) == []
    _dvc("repro", cwd=project)
    assert _in_data(_temporaries(project)) == []
    assert _snapshot(project) == before


def test_the_next_run_of_a_killed_stage_removes_what_it_left(project: Path) -> None:
    before = _snapshot(project)
    dvc, stage = _start_labelling(project)
    _wait_for_maps(project, SLOW_VIEW, 2, stage)
    stage.kill()
    dvc.wait(timeout=TIMEOUT_S)
    assert _temporaries(project), "SIGKILL cannot be handled: its staging folder stays (out of data/)"
    _dvc("repro", "--force", "--single-item", f"pseudo_label@{SLOW_VIEW}", cwd=project)
    assert _temporaries(project) == []
    assert _snapshot(project) == before


def test_killing_dvc_stops_its_stage(project: Path) -> None:
    before = _snapshot(project)
    views = project / "data" / "pseudo_labels" / "views"
    dvc, stage = _start_labelling(project)
    _wait_for_maps(project, SLOW_VIEW, 1, stage)
    dvc.kill()
    dvc.wait(timeout=TIMEOUT_S)
    try:
        stage.wait(timeout=15)
    except psutil.TimeoutExpired:
        stage.kill()
        pytest.fail("the stage kept running after dvc was killed")
    assert _temporaries(project) == []
    assert not (views / SLOW_VIEW).exists(), "DVC removed the output before running the stage; it stays removed"
    _dvc("repro", cwd=project)
    assert _snapshot(project) == before


def test_dvc_exp_run_commits_no_resume_point(project: Path) -> None:
    assert (project / "data" / "model" / "last.pt").is_file()
    _dvc("exp", "run", "--name", "reliability", cwd=project)
    ref = _run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], project).split()
    assert ref, "dvc exp run made no experiment"
    files = _run(["git", "ls-tree", "-r", "--name-only", ref[0]], project).split()
    assert "dvc.lock" in files and not [name for name in files if "last.pt" in name]
