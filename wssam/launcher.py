"""How a stage runs: as one process, or as several that torchrun starts (the ``launcher`` section of params.yaml).

A stage script whose ``launcher`` asks for more than one process replaces itself (``os.execve``, same process id)
with ``python -m torch.distributed.run ... <the same script and arguments>``: torchrun then starts
``nproc_per_node`` copies of the script on this machine, each with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in
its environment, and the copies run the stage's work in parts (:mod:`wssam.distributed`). So the command in
``dvc.yaml`` never names the process count, and changing it reruns no stage that does not declare it.

- One machine: ``torchrun --standalone`` (a rendezvous on a free local port).
- Several machines: ``nnodes`` > 1 and ``rdzv_endpoint`` (``host:port`` of a machine every node reaches); every
  machine runs the same stage command (the same rendezvous id, derived from the command line), and they find each
  other there.
- Threads: each of N processes on a machine gets its share of the cores, ``OMP_NUM_THREADS = cores // N`` (unless
  the user set ``OMP_NUM_THREADS``), so N processes on N cores do not fight over them.

Light on purpose (no torch import): the params check validates this section, and the relaunch happens before torch
is needed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence

from pydantic import Field, ValidationInfo, field_validator

from wssam.cli import LAUNCHER_PID_ENV
from wssam.config import Config
from wssam.io import InputError

#: set by torchrun in every process it starts (and by nothing else)
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"
THREADS_ENV = "OMP_NUM_THREADS"


class LauncherConfig(Config):
    """The ``launcher`` section: how many processes run a stage, and where they meet (none of it changes a result
    of ``pseudo_label`` or ``predict``; ``train`` declares the process count, which sets its batch norm's share).

    ``nproc_per_node``: processes on each machine (one per GPU; on a CPU, processes that share its cores);
    ``nnodes``: machines; ``rdzv_endpoint``: ``host:port`` where the machines meet (needed when ``nnodes`` > 1);
    ``loader_workers``: worker processes that read and augment training images beside each training process.
    """

    nproc_per_node: int = Field(ge=1)
    nnodes: int = Field(ge=1)
    rdzv_endpoint: str
    loader_workers: int = Field(ge=0)

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
    """Whether this process was started by torchrun (then it is one of the stage's processes, never relaunched)."""
    return TORCHRUN_ENV in os.environ


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and Slurm set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_process(processes: int, cores: int) -> int:
    """Each of ``processes`` processes' share of ``cores`` cores, at least 1."""
    return max(1, cores // processes)


def torchrun_command(config: LauncherConfig, argv: Sequence[str], executable: str) -> list[str]:
    """The command that runs the script ``argv[0]`` with arguments ``argv[1:]`` under torchrun as ``config`` says.

    One machine: ``--standalone``. Several: a c10d rendezvous at ``config.rdzv_endpoint`` whose id is a hash of
    ``argv``, so every machine running the same stage command joins the same rendezvous.
    """
    command = [executable, "-m", "torch.distributed.run", f"--nproc-per-node={config.nproc_per_node}"]
    if config.nnodes == 1:
        command.append("--standalone")
    else:
        run_id = hashlib.sha256("\0".join(argv).encode("utf-8")).hexdigest()[:16]
        command += [f"--nnodes={config.nnodes}", "--rdzv-backend=c10d"]
        command += [f"--rdzv-endpoint={config.rdzv_endpoint}", f"--rdzv-id=wssam-{run_id}"]
    return [*command, *argv]


def relaunch_under_torchrun(config: LauncherConfig) -> None:
    """Replace this process by torchrun running the same script with the same arguments, when ``config`` asks for
    more than one process and this process is not already one of torchrun's. Otherwise return at once.

    Only a stage script run as ``__main__`` may call it (the process is replaced), after its cheap input checks,
    so a mistake is one line from one process rather than a report from each.
    """
    if config.world_size == 1 or under_torchrun():
        return
    env = dict(os.environ)
    env.setdefault(THREADS_ENV, str(threads_per_process(config.nproc_per_node, usable_cores())))
    env[LAUNCHER_PID_ENV] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    command = torchrun_command(config, sys.argv, sys.executable)
    os.execve(sys.executable, command, env)
