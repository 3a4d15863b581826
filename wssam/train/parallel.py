"""Training as DistributedDataParallel under torchrun: where each process computes, how the network is wrapped,
and what the batch size must allow.

- Device: on a machine with GPUs, process ``LOCAL_RANK`` trains on GPU ``LOCAL_RANK`` with the ``nccl`` backend;
  on CPUs every process trains on the CPU with ``gloo`` (and its share of the cores, see :mod:`wssam.launcher`).
- Batch norm: DDP computes batch-norm statistics per process, over its part of the batch. On GPUs the network's
  BatchNorm layers become SyncBatchNorm (statistics over the whole global batch, as one process would compute
  them); SyncBatchNorm runs on CUDA only, so on CPUs the statistics stay per process (and differ from one
  process's: the process count is a dependency of ``train``).
- ``train.batch_size`` is the global batch: each process needs at least 2 images of every batch (a batch-norm layer
  after global pooling, as in the released network, cannot train on one image).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from wssam.devices import resolve_device
from wssam.distributed import World
from wssam.io import InputError
from wssam.launcher import check_global_batch
from wssam.train.config import one_image_batch_problem


def training_device(world: World) -> torch.device:
    """This process's device: its own GPU (``cuda:LOCAL_RANK``) when there are GPUs, else the CPU."""
    if world.size > 1 and torch.cuda.is_available():
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    return resolve_device("auto")


def backend(device: torch.device) -> str:
    """The process-group backend for training on ``device``: ``nccl`` on GPUs, ``gloo`` on CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


def check_batch_per_process(
    batch_size: int, images: int, world: World, network: str = "wssam", image_size: int = 384
) -> None:
    """Each process needs 2 images of each batch under DDP, and so does the one process of a network that cannot
    train on one image at ``image_size`` (:func:`~wssam.train.config.one_image_batch_problem`): ``batch_size`` and the
    training set must allow it (an InputError naming the key to change otherwise). Other networks train on batches
    of any size in one process."""
    problem = one_image_batch_problem(network, image_size)
    if world.size == 1 and problem is None:
        return
    if world.size == 1:
        if batch_size < 2:
            raise InputError(f"parameter 'train.batch_size' = {batch_size}: {problem}; use 2 or more")
        if images < 2:
            raise InputError(
                f"{images} training image left after the held-out share: the {network} network needs batches of 2; "
                "lower train.val_fraction or keep more images"
            )
        return
    check_global_batch(batch_size, world.size)
    if images < 2 * world.size:
        raise InputError(
            f"{images} training images cannot give each of {world.size} processes 2; lower launcher.nproc_per_node"
        )


def distributed(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """``model`` as the processes of ``world`` train it: DDP-wrapped (SyncBatchNorm first on GPUs); ``model``
    itself when there is one process. Call after the weights are loaded: DDP copies rank 0's to the others."""
    if world.size == 1:
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(model)
