"""The pieces of the training loop: one step, one epoch, validation. Pure of files: the stage wires them.

Validation uses a held-out share of the TRAINING images, scored against their pseudo labels (never ground truth,
never a test set): ``val_mae`` (mean |sigmoid(p1) - pseudo label|) chooses the best epoch; ``val_loss`` is the
training loss with the uncertainty ramp fixed at 1 so that epochs compare.

Under DistributedDataParallel (``world.size`` processes, the model wrapped by the stage), ``config.batch_size`` is
the GLOBAL batch: every process draws the same epoch order, takes its contiguous part of each global batch
(:func:`~wssam.distributed.split_batch`), and computes its share of the whole batch's loss
(:class:`~wssam.train.losses.WholeBatch`, the labelled-pixel count summed over the processes); DDP averages the
gradients, so the loss is multiplied by the process count first. The step is then the one a single process takes
on the whole batch (up to summation order), except for batch norm, whose statistics are per process (on CPUs; the
stage uses SyncBatchNorm on GPUs). Images are read and augmented by ``loader_workers`` worker processes; the
augmentation of an image depends only on (seed, epoch, index), so the number of workers changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from wssam.devices import autocast
from wssam.distributed import World, split_batch, summed
from wssam.io import InputError
from wssam.labels import labelled_mask
from wssam.models.config import FINAL_OUTPUT, OUTPUT_NAMES
from wssam.train.config import TrainConfig
from wssam.train.dataset import TrainingImages, epoch_batches
from wssam.train.losses import WholeBatch, pseudo_pixel_weight, total_loss
from wssam.train.schedule import cosine_lr, released_cosine_lr, released_epoch_ramp, uncertainty_ramp


def batch_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    ramp: float,
    device: torch.device,
    bf16: bool,
    whole: WholeBatch | None = None,
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """Forward one batch and compute the total loss; returns (loss, parts, final logits (B, 1, S, S) float32).

    ``batch``: ``image`` (B, 3, S, S) RGB in [0, 1], ``target`` and ``weight`` (B, 1, S, S), ``sparse`` (B, 1, S, S)
    S-COD labels. ``bf16``: run the forward pass under bf16 autocast (the loss is computed in float32).
    ``whole``: ``batch`` is one process's part of this whole batch (the loss is its share).
    """
    batch = {k: v.to(device) for k, v in batch.items()}
    with autocast(device, bf16):
        outputs = model(batch["image"])
    loss_config = config.loss
    weight = pseudo_pixel_weight(batch["target"], batch["weight"], ignore_band=loss_config.ignore_band)
    loss, parts = total_loss(
        outputs,
        target=batch["target"],
        pixel_weight=weight,
        sparse=batch["sparse"],
        deep_supervision=dict(zip(OUTPUT_NAMES, loss_config.deep_supervision, strict=True)),
        final=FINAL_OUTPUT,
        pseudo_weight=loss_config.pseudo_weight,
        partial_weight=loss_config.partial_weight,
        uncertainty_weight=loss_config.uncertainty_weight,
        ramp=ramp,
        whole=whole,
    )
    return loss, parts, outputs[FINAL_OUTPUT].float()


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam over ``model``'s parameters at ``config.lr`` in torch's fused kernel: one pass over every tensor instead
    of a loop of small operations per tensor (the ResNet-18 demo network's 456 tensors: about 18 ms per step on a
    2-core CPU instead of about 70 ms). The update is Adam's, equal to the per-tensor loop up to rounding."""
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    ramp: float,
    device: torch.device,
    bf16: bool,
    whole: WholeBatch | None = None,
    processes: int = 1,
) -> dict[str, float]:
    """One optimisation step: forward, loss, backward, gradient clamp (when ``grad_clip`` > 0), update.

    ``whole`` and ``processes``: under DDP, the whole batch ``batch`` is a part of and the number of processes
    (DDP averages their gradients; each loss is a share of the whole batch's, so it is scaled by ``processes``).
    Returns the loss parts as floats (see :func:`batch_loss`).
    """
    loss, parts, _ = batch_loss(model, batch, config, ramp, device, bf16, whole)
    optimizer.zero_grad(set_to_none=True)
    (loss * processes if processes > 1 else loss).backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
    optimizer.step()
    return parts


def learning_rate(config: TrainConfig, *, step: int, total_steps: int, epoch: int) -> float:
    """The learning rate of global ``step`` (0-based) in 0-based ``epoch`` under ``config.lr_schedule``."""
    if config.lr_schedule == "released_t40":
        return released_cosine_lr(epoch, lr=config.lr, min_lr=config.min_lr)
    return cosine_lr(step, total_steps, lr=config.lr, min_lr=config.min_lr)


def uncertainty_weight(config: TrainConfig, *, step: int, total_steps: int, per_epoch: int) -> float:
    """The ramp of the uncertainty-aware loss at global ``step`` under ``config.loss.uncertainty_ramp``."""
    if config.loss.uncertainty_ramp == "released_per_epoch":
        return released_epoch_ramp(step % per_epoch, per_epoch)
    return uncertainty_ramp(step, total_steps)


def steps_per_epoch(images: int, config: TrainConfig, processes: int = 1) -> int:
    """Optimisation steps in one epoch of ``images`` training images (a last batch of fewer than 2 images per
    process joins the batch before)."""
    return len(global_batches(images, config, epoch=0, processes=processes))


def global_batches(images: int, config: TrainConfig, *, epoch: int, processes: int = 1) -> list[list[int]]:
    """The epoch's batches of ``config.batch_size`` image indices, the same in every process; a last batch too
    small to give each of ``processes`` processes 2 images (batch norm) joins the one before."""
    return epoch_batches(images, config.batch_size, seed=config.seed, epoch=epoch, min_last=2 * processes)


def _whole_batch(part: dict[str, torch.Tensor], images: int, world: World, device: torch.device) -> WholeBatch:
    """The whole batch this process's ``part`` belongs to: ``images`` and the labelled pixels of every part."""
    labelled = float(labelled_mask(part["sparse"]).sum())
    return WholeBatch(images=images, labelled=summed(world, [labelled], device)[0])


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: TrainingImages,
    config: TrainConfig,
    *,
    epoch: int,
    first_step: int,
    device: torch.device,
    bf16: bool,
    batches: Callable[[Iterable[dict[str, torch.Tensor]]], Iterable[dict[str, torch.Tensor]]] = iter,
    world: World | None = None,
    loader_workers: int = 0,
    after_step: Callable[[], None] = lambda: None,
) -> tuple[float, float, int]:
    """Train one epoch (0-based ``epoch``), the global step counter starting at ``first_step``.

    The learning rate and the uncertainty ramp follow the WHOLE run's progress (``config.epochs`` epochs), so they
    never restart at an epoch boundary, unless ``config`` selects the released code's schedules. ``batches`` wraps
    the epoch's batches (e.g. in a progress bar). ``world``: this process's place under DDP (``model`` is then
    the DDP-wrapped network; see the module docstring); ``loader_workers``: processes reading and augmenting
    images; ``after_step`` runs after every optimisation step (e.g. the weight average's update). Returns (mean
    training loss per image over the whole epoch, last learning rate, steps taken).
    """
    world = world or World()
    torch.manual_seed(config.seed * 100_003 + epoch)  # any randomness inside the network, exact on resume
    images.set_epoch(epoch)
    per_epoch = steps_per_epoch(len(images), config, world.size)
    total_steps = per_epoch * config.epochs
    whole_batches = global_batches(len(images), config, epoch=epoch, processes=world.size)
    loader = DataLoader(
        images, batch_sampler=[split_batch(b, world) for b in whole_batches], num_workers=loader_workers,
        collate_fn=default_collate, pin_memory=device.type == "cuda", generator=torch.Generator(),
    )  # fmt: skip  # its own generator: the workers' seeds are not drawn from the network's random stream
    loss_sum, count, lr, step = 0.0, 0, config.lr, first_step
    for whole_batch, batch in zip(whole_batches, batches(loader), strict=True):
        lr = learning_rate(config, step=step, total_steps=total_steps, epoch=epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        ramp = uncertainty_weight(config, step=step, total_steps=total_steps, per_epoch=per_epoch)
        whole = _whole_batch(batch, len(whole_batch), world, device) if world.size > 1 else None
        parts = train_step(model, optimizer, batch, config, ramp, device, bf16, whole, world.size)
        check_finite(parts["total"], epoch=epoch, step=step, config=config)
        after_step()
        step += 1
        loss_sum += parts["total"] * len(whole_batch)
        count += len(whole_batch)
    return summed(world, [loss_sum], device)[0] / count, lr, step - first_step


def check_finite(loss: float, *, epoch: int, step: int, config: TrainConfig) -> None:
    """Stop a diverged run at its first non-finite loss (0-based ``epoch`` and global ``step``): its weights are
    NaN from this update on, and going on would validate, average and keep them."""
    if not math.isfinite(loss):
        raise InputError(
            f"training loss is {loss} at step {step + 1} (epoch {epoch + 1}): the training diverged; lower "
            f"'train.lr' (now {config.lr:g}) or set 'train.grad_clip' (now {config.grad_clip:g})"
        )


@torch.no_grad()
def validate(
    model: nn.Module, images: TrainingImages, config: TrainConfig, device: torch.device, bf16: bool
) -> dict[str, float]:
    """``val_loss`` (ramp 1) and ``val_mae`` against the pseudo labels, averaged over images; NaN when empty."""
    if len(images) == 0:
        return {"val_loss": math.nan, "val_mae": math.nan}
    model.eval()
    loss_sum, mae_sum = 0.0, 0.0
    loader = DataLoader(images, batch_size=config.batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        _, parts, logits = batch_loss(model, batch, config, 1.0, device, bf16)
        count = len(batch["image"])
        loss_sum += parts["total"] * count
        target = batch["target"].to(device)
        mae_sum += float((torch.sigmoid(logits) - target).abs().mean(dim=(1, 2, 3)).sum())
    model.train()
    return {"val_loss": loss_sum / len(images), "val_mae": mae_sum / len(images)}
