"""How a stage runs: as one process, or as several that torchrun starts (the ``launcher`` section of params.yaml).

A stage script whose ``launcher`` asks for more than one process becomes torchrun's elastic agent
(:func:`torch.distributed.launcher.api.elastic_launch`, what the ``torchrun`` command runs): the agent starts
``nproc_per_node`` processes on this machine, each with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its
environment, each running the same script with the same arguments (``runpy``, as ``torchrun --run-path`` does), and
the processes do the stage's work in parts (:mod:`wssam.distributed`). The script itself exits when they are done.
So the command in ``dvc.yaml`` never names the process count, and changing it reruns no stage that does not declare
it.

- Start: on a machine without GPUs the agent forks the processes (``fork``), so they inherit the modules the script
  has imported instead of importing torch and the stage again, seconds per stage; with GPUs it spawns fresh
  interpreters (``spawn``): CUDA does not survive a fork, and the script never touches CUDA before.
- One machine: torchrun's ``--standalone`` rendezvous (a c10d store on a free local port).
- Several machines: ``nnodes`` > 1 and ``rdzv_endpoint`` (``host:port`` of a machine every node reaches); every
  machine runs the same stage command (the same rendezvous id, derived from the command line), and they find each
  other there.
- Threads: each of N processes on a machine gets its share of the cores, ``OMP_NUM_THREADS = cores // N`` (unless
  the user set ``OMP_NUM_THREADS``), so N processes on N cores do not fight over them.
- A process that fails ends the others (the agent stops them; one still at work says it was stopped); the script
  then exits with that process's exit code after one line that names it (the process printed its own message
  above). SIGTERM, SIGHUP and Ctrl-C reach every process, which stop as one process does (temporary files removed).

Light on purpose (torch is imported only to launch): the params check validates this section.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import runpy
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from wssam.cli import LAUNCHER_PID_ENV, Stopped
from wssam.config import Config
from wssam.io import InputError

#: set by torchrun in every process it starts (and by nothing else)
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"
THREADS_ENV = "OMP_NUM_THREADS"
#: how torchrun's agent starts the processes, where the default (fork without GPUs, spawn with them) does not suit
START_METHOD_ENV = "WSSAM_START_METHOD"
#: how long a process that raised waits before ending, so that the agent finds a peer that ended first ended first
#: (it looks every 0.1 s)
PEER_FAILURE_GRACE_S = 1.0
#: the loggers of torchrun's agent and of the processes it starts
AGENT_LOGGERS = ("torch.distributed.elastic", "torch.multiprocessing")


class LauncherConfig(Config):
    """The ``launcher`` section: how many processes run a stage, and where they meet (none of it changes a result
    of ``pseudo_label`` or ``predict``; ``train`` declares the process count, which sets its batch norm's share).

    ``nproc_per_node``: processes on each machine (one per GPU; on a CPU, processes that share its cores);
    ``nnodes``: machines; ``rdzv_endpoint``: ``host:port`` where the machines meet (needed when ``nnodes`` > 1);
    ``loader_workers``: worker processes that read and augment training images beside each training process;
    ``resume``: whether ``train`` continues an unfinished run from its ``last.pt`` (the same result either way).
    """

    nproc_per_node: int = Field(ge=1)
    nnodes: int = Field(ge=1)
    rdzv_endpoint: str
    loader_workers: int = Field(ge=0)
    resume: bool

    @field_validator("rdzv_endpoint")
    @classmethod
    def _needed_by_several_machines(cls, endpoint: str, info: ValidationInfo) -> str:
        nnodes = info.data.get("nnodes", 1)
        if nnodes > 1 and ":" not in endpoint:
            raise ValueError(f"launcher.nnodes is {nnodes}: give the host:port where the machines meet")
        return endpoint

    @property
    def world_size(self) -> int:
        """Processes in all: ``nproc_per_node * nnodes``."""
        return self.nproc_per_node * self.nnodes


def check_global_batch(batch_size: int, processes: int) -> None:
    """``train.batch_size`` is the global batch under DDP: each of ``processes`` processes needs 2 images of it
    (a batch-norm layer after global pooling cannot train on one image). An InputError naming the key otherwise."""
    if processes > 1 and batch_size < 2 * processes:
        raise InputError(
            f"parameter 'train.batch_size' = {batch_size} is the global batch: {processes} processes need at least "
            f"{2 * processes} (2 each); raise it or lower launcher.nproc_per_node"
        )


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (then it is one of the stage's processes and launches none)."""
    return TORCHRUN_ENV in os.environ


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPU cores this process may use: its affinity mask (which Slurm and ``docker --cpuset-cpus`` set), capped by
    a CPU quota of its control group (``docker --cpus``, Kubernetes limits), rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def cgroup_cpu_quota(root: Path) -> float | None:
    """The CPU quota in cores of the control group mounted at ``root`` (v2: ``cpu.max``; v1: ``cpu/cpu.cfs_quota_us``
    over ``cpu.cfs_period_us``); None without one (no file, ``max``, -1, or unreadable)."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def threads_per_process(processes: int, cores: int) -> int:
    """Each of ``processes`` processes' share of ``cores`` cores, at least 1."""
    return max(1, cores // processes)


def launch_config(config: LauncherConfig, argv: Sequence[str], start_method: str) -> Any:
    """torchrun's :class:`~torch.distributed.launcher.api.LaunchConfig` for running the script ``argv[0]`` with
    arguments ``argv[1:]`` as ``config`` says, its processes started by ``start_method`` (``fork`` or ``spawn``).

    One machine: ``--standalone`` (a c10d rendezvous on a free local port, a fresh id). Several: a c10d rendezvous
    at ``config.rdzv_endpoint`` whose id is a hash of ``argv``, so every machine running the same stage command
    joins the same rendezvous. No restarts: a failed stage is rerun by its user (the cache keeps finished maps).
    """
    from torch.distributed.launcher.api import LaunchConfig

    if config.nnodes == 1:
        endpoint, run_id = "localhost:0", f"wssam-{uuid.uuid4().hex[:16]}"
    else:
        endpoint = config.rdzv_endpoint
        run_id = "wssam-" + hashlib.sha256("\0".join(argv).encode("utf-8")).hexdigest()[:16]
    return LaunchConfig(min_nodes=config.nnodes, max_nodes=config.nnodes, nproc_per_node=config.nproc_per_node,
                        run_id=run_id, rdzv_backend="c10d", rdzv_endpoint=endpoint, max_restarts=0,
                        monitor_interval=0.1, start_method=start_method)  # fmt: skip


def start_method() -> str:
    """``fork`` on a machine without GPUs, ``spawn`` with them (CUDA cannot be used in a forked process once the
    parent has touched it; the count comes from NVML, which does not initialise CUDA in this process), or what
    ``WSSAM_START_METHOD`` says (``spawn``: fresh interpreters everywhere; ``fork``)."""
    import torch

    chosen = os.environ.get(START_METHOD_ENV, "")
    if chosen:
        if chosen not in ("fork", "spawn"):
            raise InputError(f"{START_METHOD_ENV}={chosen!r}: use fork or spawn, or unset it")
        return chosen
    return "spawn" if torch.cuda.device_count() > 0 else "fork"


def run_script(argv: Sequence[str], threads: int) -> None:
    """One of torchrun's processes: limit this process to ``threads`` threads (torch, OpenMP and BLAS pools: a
    forked process keeps its parent's), then run the script ``argv[0]`` as ``__main__`` with ``argv`` as its
    command line. It finds itself under torchrun and does its part of the work."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    sys.argv = list(argv)
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except Exception:
        # often the error of a process whose peer failed first (a barrier's "connection closed by peer"): the agent
        # names the first process it finds ended, so let the one that caused it be found first
        time.sleep(PEER_FAILURE_GRACE_S)
        raise


def _report_failure(failed: Any, world_size: int) -> int:
    """Say which of ``world_size`` processes failed first (``failed``: torch's ChildFailedError) and return the exit
    code the stage ends with: that process's.

    The cause is a process that did not end with exit code 1, where there is one: the others, left waiting for it,
    end with 1. A process ends with 2 after printing its own one-line message (a user's mistake); a crash's
    traceback, which the agent caught, is printed here.
    """
    rank, failure = min(failed.failures.items(), key=lambda item: (item[1].exitcode == 1, item[1].timestamp, item[0]))
    message = failure.message
    if isinstance(message, dict):
        print(message.get("extraInfo", {}).get("py_callstack") or message.get("message", ""), file=sys.stderr)
    code = _stop_code(failure.exitcode)
    print(f"error: process {rank} of {world_size} {_how_it_ended(failure.exitcode)}", file=sys.stderr)
    return code


def _how_it_ended(exitcode: int) -> str:
    """How a process that ended with ``exitcode`` ended, in words (a killed one printed nothing)."""
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = "; out of memory?" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name} (exit code {_stop_code(exitcode)}{hint})"
    return f"ended with exit code {_stop_code(exitcode)} (its message is above)"


def _stop_code(exitcode: int) -> int:
    """The exit code a shell gives a process that ended with ``exitcode`` (negative: killed by that signal)."""
    return 128 - exitcode if exitcode < 0 else max(exitcode, 1)


def run_under_torchrun(config: LauncherConfig) -> None:
    """Run this script in the processes torchrun starts, when ``config`` asks for more than one process and this
    process is not already one of torchrun's, then end this process (the processes did the work; exit code 0, or
    theirs through ``SystemExit``). Otherwise return at once, and this process does the work.

    Only a stage script run as ``__main__`` may call it, after its cheap input checks, so that a mistake is one line
    from one process rather than a report from each.
    """
    if config.world_size == 1 or under_torchrun():
        return
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    _quiet_agent()
    threads = int(os.environ.get(THREADS_ENV) or threads_per_process(config.nproc_per_node, usable_cores()))
    os.environ[THREADS_ENV] = str(threads)
    os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        elastic_launch(launch_config(config, sys.argv, start_method()), run_script)(list(sys.argv), threads)
    except ChildFailedError as failed:
        raise SystemExit(_report_failure(failed, config.world_size)) from None
    except SignalException as stop:
        raise Stopped(int(stop.sigval)) from None
    _exit_now()


def _quiet_agent() -> None:
    """Silence the agent's log lines (a process's failure as a traceback, the signals it passes on): the stage prints
    its own line for either, and each process prints its own message."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(AGENT_LOGGERS):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _exit_now() -> None:
    """End this process with exit code 0 at once, its output flushed: the stage's processes have written its
    outputs, and tearing down the modules this process imported (torch among them) would add most of a second to
    every stage."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
