"""The training loop: Adam, per-step cosine learning rate, gradient value clamp, validation, checkpoints, resume.

Validation uses a held-out share of the TRAINING images, scored against their pseudo labels (never ground truth,
never a test set): ``val_mae`` (mean |sigmoid(p1) - pseudo label|) chooses the best epoch; ``val_loss`` is the
training loss with the uncertainty ramp fixed at 1 so that epochs compare.

Resume: ``last.pt`` is written after every epoch. A later run with the same config and the same training data
(fingerprint) continues from it; since the data order, augmentation and torch's generator are reseeded from
(seed, epoch) at each epoch, the result equals an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from dvclive import Live
from torch import nn
from torch.utils.data import DataLoader

from wssam.io import write_json
from wssam.models import OUTPUT_NAMES, build_model, count_parameters_millions
from wssam.training.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
    seed_everything,
)
from wssam.training.config import TrainConfig, train_config_to_dict
from wssam.training.dataset import (
    TrainingImages,
    data_fingerprint,
    epoch_batches,
    load_records,
    normalise_images,
    split_names,
)
from wssam.training.losses import pseudo_pixel_weight, total_loss
from wssam.training.schedule import cosine_lr, uncertainty_ramp

FINAL_OUTPUT = OUTPUT_NAMES[-1]
ModelBuilder = Callable[[TrainConfig], nn.Module]


def build_network(config: TrainConfig) -> nn.Module:
    """The network named by ``config`` (model, backbone, backbone weights, grouping, width; width 0 = paper size)."""
    return build_model(
        config.model,
        backbone=config.backbone,
        backbone_weights=config.backbone_weights,
        grouping=config.grouping,
        width=config.width or None,
    )


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def batch_loss(
    model: nn.Module, batch: dict[str, torch.Tensor], config: TrainConfig, ramp: float, device: torch.device
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """Forward one batch and compute the total loss; returns (loss, parts, final logits (B, 1, S, S) float32)."""
    batch = {k: v.to(device) for k, v in batch.items()}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if config.bf16 else nullcontext()
    with autocast:
        outputs = model(normalise_images(batch["image"]))
    loss_config = config.loss
    weight = pseudo_pixel_weight(
        batch["target"],
        batch["weight"],
        entropy_weighting=loss_config.entropy_weighting,
        ignore_band=loss_config.ignore_band,
    )
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
    )
    return loss, parts, outputs[FINAL_OUTPUT].float()


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    ramp: float,
    device: torch.device,
) -> dict[str, float]:
    """One optimisation step: forward, loss, backward, gradient clamp (when ``grad_clip`` > 0), update.

    Returns the loss parts as floats (see :func:`batch_loss`).
    """
    loss, parts, _ = batch_loss(model, batch, config, ramp, device)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
    optimizer.step()
    return parts


@torch.no_grad()
def validate(model: nn.Module, images: TrainingImages, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """``val_loss`` (ramp 1) and ``val_mae`` against the pseudo labels, averaged over images; NaN when empty."""
    if len(images) == 0:
        return {"val_loss": math.nan, "val_mae": math.nan}
    model.eval()
    loss_sum, mae_sum = 0.0, 0.0
    loader = DataLoader(images, batch_size=config.batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        _, parts, logits = batch_loss(model, batch, config, 1.0, device)
        count = len(batch["image"])
        loss_sum += parts["total"] * count
        target = batch["target"].to(device)
        mae_sum += float((torch.sigmoid(logits) - target).abs().mean(dim=(1, 2, 3)).sum())
    model.train()
    return {"val_loss": loss_sum / len(images), "val_mae": mae_sum / len(images)}


def _try_resume(path: Path, config_dict: dict[str, Any], fingerprint: str) -> dict[str, Any] | None:
    """The state in ``last.pt`` when it continues this exact run (same config and data), else None."""
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state.get("config") != config_dict or state.get("fingerprint") != fingerprint:
        print(f"{path}: config or training data changed; starting from scratch")
        return None
    return state


def train(
    *,
    config: TrainConfig,
    manifest: str | os.PathLike[str],
    scored_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    log_dir: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    build: ModelBuilder = build_network,
    device: torch.device | None = None,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train on the kept images, write ``model.pt``/``last.pt`` in ``output_dir``, dvclive logs, metrics JSON.

    ``stop_after_epochs`` ends this call after that many epochs in total (an interruption, for tests and for
    splitting a long run); the next call resumes. Returns the metrics dict written to ``metrics_path``.
    """
    started = time.perf_counter()
    device = device or default_device()
    output_dir = Path(output_dir)
    records = load_records(manifest, scored_dir)
    fingerprint = data_fingerprint(records)
    train_names, val_names = split_names([r.name for r in records], config.val_fraction, config.seed)
    by_name = {r.name: r for r in records}
    train_set = TrainingImages([by_name[n] for n in train_names], config.image_size, config.augment, config.seed)
    val_set = TrainingImages([by_name[n] for n in val_names], config.image_size, None, config.seed)

    seed_everything(config.seed)
    model = build(config).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps_per_epoch = len(epoch_batches(len(train_set), config.batch_size, seed=config.seed, epoch=0))
    total_steps = steps_per_epoch * config.epochs
    config_dict = train_config_to_dict(config)

    state = _try_resume(output_dir / LAST_NAME, config_dict, fingerprint) if config.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_states(state["rng"])
        print(f"resuming after epoch {state['epoch']} of {config.epochs} from {output_dir / LAST_NAME}")
    start_epoch = state["epoch"] if state else 0
    step = state["step"] if state else 0
    history: list[dict[str, float]] = list(state["history"]) if state else []
    best: dict[str, Any] = dict(state["best"]) if state else {"epoch": 0, "val_mae": math.inf, "val_loss": math.inf}
    best_model = (state["best_model"] if state["best_model"] is not None else state["model"]) if state else None
    seconds_before = float(state["seconds"]) if state else 0.0

    live = Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None, report=None)
    for entry in history:  # replay earlier epochs: the log folder is rebuilt whole on every run
        _log_epoch(live, entry)

    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    for epoch in range(start_epoch, last_epoch):
        torch.manual_seed(config.seed * 100_003 + epoch)  # any randomness inside the network, exact on resume
        train_set.set_epoch(epoch)
        loss_sum, count, lr = 0.0, 0, config.lr
        for indices in epoch_batches(len(train_set), config.batch_size, seed=config.seed, epoch=epoch):
            batch = torch.utils.data.default_collate([train_set[i] for i in indices])
            lr = cosine_lr(step, total_steps, lr=config.lr, min_lr=config.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            parts = train_step(model, optimizer, batch, config, uncertainty_ramp(step, total_steps), device)
            step += 1
            loss_sum += parts["total"] * len(indices)
            count += len(indices)
        scores = validate(model, val_set, config, device)
        entry = {"epoch": epoch + 1, "train_loss": loss_sum / count, **scores, "lr": lr}
        history.append(entry)
        _log_epoch(live, entry)
        # without a validation set the latest epoch is the best one
        if not val_names or scores["val_mae"] < best["val_mae"]:
            best = {"epoch": epoch + 1, "val_mae": scores["val_mae"], "val_loss": scores["val_loss"]}
            best_model = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            save_checkpoint(output_dir / BEST_NAME, _model_state(config_dict, best_model, best, fingerprint))
        seconds = seconds_before + time.perf_counter() - started
        save_checkpoint(
            output_dir / LAST_NAME,
            {
                **_model_state(config_dict, model.state_dict(), {"epoch": epoch + 1, **scores}, fingerprint),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "best": best,
                "best_model": None if best["epoch"] == epoch + 1 else best_model,  # None: same as "model"
                "history": history,
                "seconds": seconds,
                "rng": rng_states(),
            },
        )
        print(
            f"epoch {epoch + 1}/{config.epochs}: train_loss {entry['train_loss']:.4f} val_loss {scores['val_loss']:.4f}"
            f" val_mae {scores['val_mae']:.4f} lr {lr:.2e}"
        )
    live.end()

    # written at every new best epoch; here only when resumed from a finished run whose model.pt was removed
    if best_model is not None and not (output_dir / BEST_NAME).is_file():
        save_checkpoint(output_dir / BEST_NAME, _model_state(config_dict, best_model, best, fingerprint))
    metrics = {
        "best_epoch": best["epoch"],
        "best_val_mae": _finite_or_none(best["val_mae"]),
        "best_val_loss": _finite_or_none(best["val_loss"]),
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "epochs": len(history),
        "train_images": len(train_names),
        "val_images": len(val_names),
        "params_millions": round(count_parameters_millions(model), 4),
        "seconds": round(seconds_before + time.perf_counter() - started, 2),
    }
    write_json(metrics_path, metrics)
    return metrics


def _model_state(
    config_dict: dict[str, Any], weights: dict[str, torch.Tensor], scores: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    """The keys every checkpoint has: config, weights, 1-based epoch and its validation scores, data fingerprint."""
    return {
        "config": config_dict,
        "model": weights,
        "epoch": scores["epoch"],
        "val_mae": scores["val_mae"],
        "val_loss": scores["val_loss"],
        "fingerprint": fingerprint,
    }


def _log_epoch(live: Live, entry: dict[str, float]) -> None:
    for name in ("train_loss", "val_loss", "val_mae", "lr"):
        if math.isfinite(entry[name]):
            live.log_metric(name, entry[name])
    live.next_step()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
