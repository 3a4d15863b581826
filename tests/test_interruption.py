"""Interruption and leftovers through the stage scripts, run as DVC runs them (a subprocess): SIGTERM is a clean stop,
SIGKILL leaves temporaries that the next run removes (and DVC ignores meanwhile), an orphaned stage stops when the
dvc process that started it is gone, and written files get the user's umask. The same checks under a real
``dvc repro`` are in tests/test_pipeline.py (slow tier).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from recipe import ROOT, write_params
from sam_helpers import write_training_set

from wssam.staging import atomic_path, is_temporary, remove_temporaries, staged_folder

IMAGES = 24  # sizes grow with the index (40x64 .. 224x156): a few seconds of labelling on 2 cores
TIMEOUT_S = 300


def _temporaries(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if is_temporary(path))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def labelling(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path, dict[str, bytes]]:
    """(command without --output, views folder, files of an uninterrupted run) for the identity view."""
    root = tmp_path_factory.mktemp("labelling")
    manifest = write_training_set(root / "train", count=IMAGES)
    params = write_params(root / "params.yaml")
    command = [sys.executable, str(ROOT / "stages" / "pseudo_label.py"), "--params", str(params)]
    command += ["--manifest", str(manifest), "--view", "identity", "--labeler-dir", str(root), "--quiet"]
    views = root / "views"
    done = subprocess.run([*command, *_outputs(views / "reference")], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return command, views, _files(views / "reference")


def _start(command: list[str], output: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*command, *_outputs(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip


def _outputs(output: Path, cache: str = "") -> list[str]:
    """``--output`` and ``--cache-dir`` options: a cache of the output's own (beside the views folder, so that its
    temporaries are not counted as the view's), or the one named ``cache``, so that each run labels afresh."""
    return ["--output", str(output), "--cache-dir", str(output.parent.parent / "caches" / (cache or output.name))]


def _wait_for_staging(output: Path, files: int, process: psutil.Process | subprocess.Popen) -> Path:
    """Wait until the staging sibling of ``output`` holds ``files`` maps; returns it."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        staging = [p for p in output.parent.glob(f".{output.name}.*") if p.is_dir() and is_temporary(p)]
        if staging and len(list(staging[0].iterdir())) >= files:
            return staging[0]
        alive = process.is_running() if isinstance(process, psutil.Process) else process.poll() is None
        assert alive, "the stage ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("no staging folder appeared")


def test_sigterm_stops_cleanly_and_keeps_the_old_output(labelling, tmp_path: Path) -> None:
    command, views, reference = labelling
    output = views / "sigterm"
    assert subprocess.run([*command, *_outputs(output, "sigterm-before")], capture_output=True,
                          check=False).returncode == 0  # fmt: skip
    before = _files(output)
    process = _start(command, output)
    _wait_for_staging(output, 2, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.strip().splitlines() == ["stopped (SIGTERM): outputs left as they were, temporary files removed"]
    assert _temporaries(views) == []
    assert _files(output) == before == reference


def _kill_after_maps(command: list[str], output: Path, maps: int) -> None:
    """Start the labelling of ``output`` and SIGKILL it once its staging folder holds ``maps`` maps."""
    process = _start(command, output)
    _wait_for_staging(output, maps, process)
    process.kill()
    process.communicate(timeout=TIMEOUT_S)


def test_sigkill_leaves_temporaries_that_the_next_run_removes(labelling) -> None:
    command, views, reference = labelling
    output = views / "sigkill"
    _kill_after_maps(command, output, 3)
    assert _temporaries(views), "SIGKILL cannot be handled: its staging folder stays"
    assert not output.exists()
    done = subprocess.run([*command, *_outputs(output)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert _temporaries(views) == []
    assert _files(output) == reference


def test_a_killed_run_labels_only_its_unfinished_images_when_run_again(labelling) -> None:
    """Every map enters the per-image cache the moment it is done: SIGKILL loses only the images in flight, and the
    rerun's output equals an uninterrupted run's byte for byte."""
    command, views, reference = labelling
    output = views / "resumed"
    _kill_after_maps(command, output, 5)
    finished = len(list((views.parent / "caches" / "resumed" / "maps").rglob("*.png")))
    assert 5 <= finished < IMAGES
    done = subprocess.run([*command, *_outputs(output)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert f"labelled={IMAGES - finished} reused={finished} in " in done.stdout
    assert _files(output) == reference and _temporaries(views) == []


_FAKE_DVC = """
import subprocess, sys
child = subprocess.Popen(sys.argv[1:])
print(child.pid, flush=True)
child.wait()
"""


def _orphaned_stage(command: list[str], output: Path, env: dict[str, str]) -> psutil.Process:
    """Start the stage under a stand-in for dvc (a parent process), kill that parent with SIGKILL mid-labelling."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _FAKE_DVC, *command, *_outputs(output)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip
    stage = psutil.Process(int(parent.stdout.readline()))
    _wait_for_staging(output, 2, stage)
    parent.kill()
    parent.wait(timeout=TIMEOUT_S)
    return stage


def _ended(process: psutil.Process, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_stage_stops_when_the_dvc_process_that_started_it_is_killed(labelling) -> None:
    """Killing dvc used to leave the stage running; it later overwrote outputs that a new dvc command restored."""
    command, views, _ = labelling
    output = views / "orphan"
    stage = _orphaned_stage(command, output, {"DVC_STAGE": "pseudo_label@identity"})
    assert _ended(stage, 15), "the orphaned stage is still running"
    assert not output.exists() and _temporaries(views) == []


def test_a_stage_started_by_hand_outlives_its_shell(labelling) -> None:
    """Outside DVC nothing is watched: `nohup python stages/...` keeps working after logout."""
    command, views, reference = labelling
    output = views / "nohup"
    stage = _orphaned_stage(command, output, {"DVC_STAGE": ""})
    assert _ended(stage, TIMEOUT_S)
    assert _files(output) == reference


# --- temporaries and file modes ----------------------------------------------------------------------------------


def test_stale_temporaries_of_a_target_are_removed_when_it_is_written_again(tmp_path: Path) -> None:
    stale_file = tmp_path / ".model.pt.k3j2.wssam-tmp.pt"
    stale_dir = tmp_path / ".views.x1.wssam-tmp"
    stale_dir.mkdir()
    (stale_dir / "a.png").write_bytes(b"half")
    stale_file.write_bytes(b"59 MB in real life")
    unrelated = [tmp_path / ".model.pt.notes", tmp_path / "model.pt.wssam-tmp", tmp_path / ".other.x.wssam-tmp"]
    for path in unrelated:
        path.write_bytes(b"not ours")
    with atomic_path(tmp_path / "model.pt") as tmp:
        assert not stale_file.exists()
        tmp.write_bytes(b"new")
    with staged_folder(tmp_path / "views") as folder:
        assert not stale_dir.exists()
        (folder / "a.png").write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", "views", *(p.name for p in unrelated)])
    assert remove_temporaries(tmp_path / "other") == [tmp_path / ".other.x.wssam-tmp"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_written_files_get_the_users_umask(tmp_path: Path, umask: int) -> None:
    """mkstemp/mkdtemp create 0600/0700: on a shared server nobody else could read the outputs."""
    params = write_params(
        tmp_path / "params.yaml",
        prepare={"synthetic": {"image_size": 32, "train_images": 2, "test_images": 1, "two_object_fraction": 0.0}},
    )
    command = [sys.executable, str(ROOT / "stages" / "prepare.py"), "--params", str(params), "--raw-dir", "raw"]
    command += ["--output", str(tmp_path / "prepared"), "--quiet"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, preexec_fn=lambda: os.umask(umask),
                          timeout=TIMEOUT_S, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    paths = [tmp_path / "prepared", *(tmp_path / "prepared").rglob("*")]
    modes = {(path.is_dir(), path.stat().st_mode & 0o777) for path in paths}
    assert modes == {(True, 0o777 & ~umask), (False, 0o666 & ~umask)}


def test_under_dvc_temporaries_stay_out_of_the_data_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC may restore a killed stage's outputs from its cache without running it again: a sibling left by SIGKILL
    would then stay in data/ for good. Under DVC (DVC_ROOT set) temporaries are made in the repository's DVC area
    (staging.DVC_TEMPORARY_AREA) instead."""
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    data = tmp_path / "data" / "views"
    area = tmp_path / ".dvc" / "tmp" / "wssam"
    with staged_folder(data / "identity") as folder:
        assert folder.parent == area and is_temporary(folder)
        with atomic_path(data / "identity.csv") as tmp:
            assert tmp.parent == area
            tmp.write_text("x")
        (folder / "a.png").write_bytes(b"map")
        assert [p.name for p in data.iterdir()] == ["identity.csv"]
    assert sorted(p.name for p in data.iterdir()) == ["identity", "identity.csv"]
    assert list(area.iterdir()) == []

    killed = "import os, signal, sys\nfrom wssam.staging import staged_folder\nwith staged_folder(sys.argv[1]) as f:\n"
    killed += "    (f / 'half.png').write_bytes(b'x')\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    for name in ("identity", "hflip"):
        subprocess.run([sys.executable, "-c", killed, str(data / name)], env={**os.environ}, check=False)
    assert len(list(area.iterdir())) == 2 and not _temporaries(data)
    with staged_folder(data / "identity"):
        pass
    assert [p.name.split(".")[1] for p in area.iterdir()] == ["hflip"], "only the target's own leftovers go"
