"""Working as one of several processes that torchrun started (see :mod:`wssam.launcher`): who this process is, its
part of the work, waiting for the others, and passing a small object from rank 0 to the rest.

A process outside torchrun is the whole world (:class:`World` with rank 0 of 1) and every helper here is then a
no-op, so the stages have one code path. Under torchrun, :func:`process_group` opens the group: ``gloo`` for
coordination and for training on CPUs, ``nccl`` for training on GPUs (each process on GPU ``LOCAL_RANK``).

torch is imported only when a group is opened: a stage that runs alone (the random walker on one process) never
pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from wssam.staging import staged_folder

T = TypeVar("T")

#: how long a process waits for the others at a barrier: a process that fails ends the others through torchrun
#: first, so this only bounds a wait for slower processes (uneven parts of a large set)
WAIT_LIMIT = timedelta(hours=6)


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` processes: global ``rank`` (0 writes the outputs) and ``local_rank``
    (its index on this machine: the GPU it uses)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes the stage's outputs (rank 0)."""
        return self.rank == 0

    def part(self, items: Sequence[T]) -> list[T]:
        """This process's share of ``items``: every ``size``-th item from position ``rank`` (round robin, so
        neighbouring items, often alike in cost, are spread over the processes)."""
        return list(items[self.rank :: self.size])


def world_from_env() -> World:
    """The :class:`World` torchrun describes in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or a
    world of one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(rank=int(os.environ["RANK"]), size=size, local_rank=int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def process_group(world: World, backend: str = "gloo") -> Iterator[World]:
    """Open torch's process group for ``world`` (nothing to open for one process) and close it afterwards.

    ``backend``: ``gloo`` (CPU tensors, coordination) or ``nccl`` (GPU training; the caller has made the GPU its
    current CUDA device).
    """
    if world.size == 1:
        yield world
        return
    import torch.distributed as dist

    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.size, timeout=WAIT_LIMIT)
    try:
        yield world
    finally:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    """Wait until every process of ``world`` gets here."""
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def from_main(world: World, value: Any) -> Any:
    """Rank 0's ``value`` on every process (a small picklable object); the other processes' ``value`` is ignored."""
    if world.size == 1:
        return value
    import torch.distributed as dist

    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def summed(world: World, values: Sequence[float], device: Any = "cpu") -> list[float]:
    """Each of ``values`` summed over the processes of ``world`` (float64 on ``device``, the group's device)."""
    if world.size == 1:
        return [float(v) for v in values]
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def split_batch(indices: Sequence[T], world: World) -> list[T]:
    """This process's contiguous part of one global batch: parts differ in size by at most one, the first ones
    larger (as ``numpy.array_split`` cuts)."""
    base, extra = divmod(len(indices), world.size)
    start = world.rank * base + min(world.rank, extra)
    return list(indices[start : start + base + (1 if world.rank < extra else 0)])


@contextmanager
def shared_staged_folder(world: World, target: str | os.PathLike[str]) -> Iterator[Path]:
    """A staging folder for ``target`` that every process writes its part into (see
    :func:`wssam.staging.staged_folder`): rank 0 makes it and tells the others where; when every process is done,
    rank 0 puts it in place.

    No process leaves before the folder is in place: on several machines rank 0 need not run on the machine whose
    DVC started the stage, and DVC hashes the output once its own processes end. An error in any process ends all
    of them (torchrun), and rank 0's staging folder is then removed.
    """
    if world.is_main:
        with staged_folder(target) as staging:
            from_main(world, str(staging))
            yield staging
            barrier(world)
        barrier(world)
    else:
        staging = Path(from_main(world, None))
        yield staging
        barrier(world)
        barrier(world)


def use_local_gpu(world: World) -> None:
    """Make GPU ``local_rank`` this process's CUDA device, where there are GPUs (one process per GPU), so that a
    model sent to ``cuda`` lands on it."""
    if world.size == 1:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
