"""Several processes under torchrun (CPU, gloo): labelling and prediction with 2 ranks write the bytes 1 rank
writes, two DDP ranks on half batches take the steps one process takes on the whole batch (and resume under DDP),
and the launcher's pieces (the torchrun configuration, thread shares, the batch rule, the parts of the work)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from recipe import ROOT, write_params
from sam_helpers import write_training_set
from test_predict import _checkpoint, _test_set
from test_training import make_training_data

import wssam.launcher as launcher
from wssam.config import build_config
from wssam.distributed import World, split_batch
from wssam.io import InputError
from wssam.launcher import (
    LauncherConfig,
    cgroup_cpu_quota,
    check_global_batch,
    launch_config,
    start_method,
    threads_per_process,
    usable_cores,
)
from wssam.models.checkpoint import read_checkpoint
from wssam.train.dataset import epoch_batches

TIMEOUT_S = 300
LAUNCHER = {"nproc_per_node": 1, "nnodes": 1, "rdzv_endpoint": "", "loader_workers": 0, "resume": True}


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _stage(name: str, params: Path, *options: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``stages/<name>.py`` run as DVC runs it: a subprocess that runs itself under torchrun when asked."""
    command = [sys.executable, str(ROOT / "stages" / f"{name}.py"), "--params", str(params), *map(str, options)]
    done = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, **env})  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_labelling_with_two_ranks_writes_the_bytes_of_one(tmp_path: Path) -> None:
    """Two ranks forked from the stage (the default without GPUs) and two fresh interpreters (spawn, the default
    with GPUs) write what one process writes."""
    manifest = write_training_set(tmp_path / "train", count=7)
    outputs = {}
    for ranks, start in ((1, ""), (2, "fork"), (2, "spawn")):
        params = write_params(tmp_path / f"params{ranks}.yaml", launcher={"nproc_per_node": ranks})
        output = tmp_path / f"ranks{ranks}{start}" / "hflip_rot90"
        done = _stage("pseudo_label", params, "--manifest", manifest, "--view", "hflip_rot90", "--labeler-dir",
                      tmp_path, "--output", output, "--cache-dir", tmp_path / f"cache{ranks}{start}",
                      WSSAM_START_METHOD=start)  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("pseudo_label ")]
        assert len(lines) == 1 and "labelled=7 reused=0 " in lines[0]  # rank 0 reports, once
        outputs[ranks, start] = _files(output)
        assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]
    assert len(outputs[1, ""]) == 7 and outputs[2, "fork"] == outputs[1, ""] == outputs[2, "spawn"]


def _labelling_command(tmp_path: Path, manifest: Path, ranks: int) -> list[str]:
    params = write_params(tmp_path / f"params{ranks}.yaml", launcher={"nproc_per_node": ranks})
    return [sys.executable, str(ROOT / "stages" / "pseudo_label.py"), "--params", str(params), "--manifest",
            str(manifest), "--view", "identity", "--labeler-dir", str(tmp_path), "--output",
            str(tmp_path / "views" / "identity"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]  # fmt: skip


def test_a_failing_process_stops_the_stage_with_its_exit_code_and_one_line(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=4)
    broken = tmp_path / "train" / "Imgs" / "img01.png"  # the second image: process 1's part
    broken.write_bytes(b"not a png")
    command = _labelling_command(tmp_path, manifest, ranks=2)
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    stopped = "stopped (SIGTERM): outputs left as they were, temporary files removed"
    assert [line for line in lines if line != stopped] == [
        f"error: {broken}: cannot read image (cannot identify image file '{broken}'); replace or remove the file",
        "error: process 1 of 2 ended with exit code 2 (its message is above)",
    ]
    assert lines.count(stopped) <= 1  # process 0, ended by the agent, says so when the signal finds it in Python
    assert not (tmp_path / "views").exists() or not list((tmp_path / "views").iterdir())  # no staging folder left


def test_a_process_killed_by_a_signal_is_reported_as_killed_not_as_having_printed_a_message() -> None:
    """torchrun gives a killed process a negative exit code; the kernel's out-of-memory killer sends SIGKILL and
    leaves nothing printed, so "its message is above" pointed at nothing."""
    assert launcher._how_it_ended(-signal.SIGKILL) == "was killed by SIGKILL (exit code 137; out of memory?)"
    assert launcher._how_it_ended(-signal.SIGSEGV) == "was killed by SIGSEGV (exit code 139)"
    assert launcher._how_it_ended(2) == "ended with exit code 2 (its message is above)"


def test_sigterm_stops_every_process_cleanly(tmp_path: Path) -> None:
    manifest = write_training_set(tmp_path / "train", count=4)
    command = _labelling_command(tmp_path, manifest, ranks=2)
    stage = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(workers) < 2 and time.monotonic() < deadline and stage.poll() is None:
        workers = psutil.Process(stage.pid).children()
        time.sleep(0.01)
    assert len(workers) == 2, "the stage did not start its 2 processes"
    stage.send_signal(signal.SIGTERM)
    _, stderr = stage.communicate(timeout=TIMEOUT_S)
    assert stage.returncode == 128 + signal.SIGTERM, stderr
    lines = stderr.strip().splitlines()
    assert lines and set(lines) == {"stopped (SIGTERM): outputs left as they were, temporary files removed"}
    assert psutil.wait_procs(workers, timeout=10)[1] == []  # no process outlives the stage
    views = tmp_path / "views"
    assert not views.exists() or not list(views.iterdir())


@pytest.mark.parametrize("batch_size", [1, 2])
def test_prediction_with_two_ranks_writes_the_bytes_of_one(tmp_path: Path, batch_size: int) -> None:
    """Each process with one thread (OMP_NUM_THREADS=1), as the README says: a CPU's thread count alone changes the
    order of some sums (oneDNN picks another kernel for small maps), and with it a grey level here and there. Batch
    2 of 3 images: rank 0 takes the first two, rank 1 the last, the batches one process forms."""
    _checkpoint(tmp_path / "model.pt")
    manifest = _test_set(tmp_path / "test")
    outputs = {}
    for ranks in (1, 2):
        params = write_params(tmp_path / f"params{ranks}.yaml", predict={"batch_size": batch_size},
                              launcher={"nproc_per_node": ranks})  # fmt: skip
        output = tmp_path / f"ranks{ranks}"
        done = _stage("predict", params, "--checkpoint", tmp_path / "model.pt", "--manifest", manifest,
                      "--output", output, OMP_NUM_THREADS="1")  # fmt: skip
        assert done.stdout.count("predicted 3 images") == 1
        outputs[ranks] = _files(output)
    assert len(outputs[1]) == 3 and outputs[2] == outputs[1]


def _train(root: Path, out: str, stop: int, ranks: int, workers: int) -> str:
    script = [str(ROOT / "tests" / "ddp_training.py"), str(root), out, str(stop), str(workers)]
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *launch, *script], capture_output=True, text=True, timeout=TIMEOUT_S,
                          env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["weights"]


def test_two_ddp_ranks_take_the_steps_of_one_process_on_the_whole_batch_and_resume(tmp_path: Path) -> None:
    """12 images, global batch 4: 3 steps per epoch; each rank holds 2 images of every batch. After epoch 1 (3 steps)
    and after a resumed epoch 2, the weights of the 2-rank run (1 loader worker each) equal those of one process
    (no loader worker) within 1e-5 (measured: 8e-7; each rank's loss taken as the mean of its half instead of its
    share of the whole batch: 5e-4). Batch norm is removed: its statistics are per rank under DDP."""
    make_training_data(tmp_path, n_images=12)
    checkpoints = {}
    for ranks, workers in ((1, 0), (2, 1)):
        out = f"ranks{ranks}"
        first = _train(tmp_path, out, 1, ranks, workers)
        assert first.count("epoch 1/2") == 1  # only rank 0 reports and writes
        checkpoints[ranks, 1] = _weights(tmp_path / out / "model" / "last.pt")
        resumed = _train(tmp_path, out, 2, ranks, workers)
        assert resumed.count("resuming after epoch 1") == 1 and resumed.count("epoch 2/2") == 1
        last = read_checkpoint(tmp_path / out / "model" / "last.pt")
        assert last["processes"] == ranks and last["run"]["step"] == 6
        checkpoints[ranks, 2] = last["weights"]
    for epoch in (1, 2):
        one, two = checkpoints[1, epoch], checkpoints[2, epoch]
        gap = max(float((one[key] - two[key]).abs().max()) for key in one)
        moved = max(float((one[key] - checkpoints[1, 1][key]).abs().max()) for key in one) if epoch == 2 else 1.0
        assert gap < 1e-5 < moved, (epoch, gap)


def test_the_torchrun_configuration_for_one_machine_and_for_several() -> None:
    argv = ["stages/train.py", "--params", "params.yaml"]
    one = build_config(LauncherConfig, {**LAUNCHER, "nproc_per_node": 4}, "launcher")
    standalone = launch_config(one, argv, "fork")
    assert (standalone.min_nodes, standalone.max_nodes, standalone.nproc_per_node) == (1, 1, 4)
    assert (standalone.rdzv_backend, standalone.rdzv_endpoint, standalone.max_restarts) == ("c10d", "localhost:0", 0)
    assert standalone.start_method == "fork" and standalone.run_id != launch_config(one, argv, "fork").run_id
    two = build_config(LauncherConfig, {**LAUNCHER, "nproc_per_node": 8, "nnodes": 2,
                                        "rdzv_endpoint": "node0:29400"}, "launcher")  # fmt: skip
    machines = launch_config(two, argv, "spawn")
    assert (machines.min_nodes, machines.max_nodes, machines.nproc_per_node) == (2, 2, 8)
    assert (machines.rdzv_backend, machines.rdzv_endpoint, machines.start_method) == ("c10d", "node0:29400", "spawn")
    assert machines.run_id.startswith("wssam-") and machines.run_id == launch_config(two, argv, "spawn").run_id
    assert machines.run_id != launch_config(two, [*argv, "--quiet"], "spawn").run_id  # one rendezvous per command
    assert two.world_size == 16


def test_processes_start_by_fork_without_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSSAM_START_METHOD", raising=False)
    assert start_method() == ("spawn" if torch.cuda.device_count() else "fork")
    monkeypatch.setenv("WSSAM_START_METHOD", "spawn")
    assert start_method() == "spawn"
    monkeypatch.setenv("WSSAM_START_METHOD", "forkserver")
    with pytest.raises(InputError, match="WSSAM_START_METHOD='forkserver': use fork or spawn"):
        start_method()


def test_several_machines_need_a_meeting_point() -> None:
    with pytest.raises(InputError, match=r"'launcher.rdzv_endpoint' = '' is invalid: .*host:port"):
        build_config(LauncherConfig, {**LAUNCHER, "nnodes": 2}, "launcher")


def test_each_process_gets_its_share_of_the_cores() -> None:
    assert [threads_per_process(n, 16) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, `docker --cpus 1.5`
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_container_cpu_quota_caps_the_cores_shared_out(tmp_path: Path, files: dict[str, str], quota: float | None):
    """`docker --cpus 1.5` on a 64-core host leaves the affinity mask at 64: each of 2 processes would start 32
    threads on 1.5 cores' worth of time."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == quota
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path) == (affinity if quota is None else min(affinity, math.ceil(quota)))


def test_the_global_batch_must_give_every_process_two_images() -> None:
    check_global_batch(4, 2)
    check_global_batch(1, 1)
    with pytest.raises(InputError, match=r"'train.batch_size' = 6 is the global batch: 4 processes need at least 8"):
        check_global_batch(6, 4)


def test_parts_of_the_work_cover_everything_once() -> None:
    items = list(range(11))
    parts = [World(rank, 3).part(items) for rank in range(3)]
    assert sorted(i for part in parts for i in part) == items and parts[1] == [1, 4, 7, 10]
    halves = [split_batch([5, 6, 7, 8, 9], World(rank, 2)) for rank in range(2)]
    assert halves == [[5, 6, 7], [8, 9]]
    # under DDP a last batch that cannot give each process 2 images joins the one before
    assert [len(b) for b in epoch_batches(11, 4, seed=0, epoch=0, min_last=4)] == [4, 7]
    assert [len(b) for b in epoch_batches(11, 4, seed=0, epoch=0)] == [4, 4, 3]
