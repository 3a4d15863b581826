"""The ``train`` stage: the network trained on the kept images, with checkpoints, resume, logs and metrics.

Resume: ``last.pt`` is written after every epoch. A later run with the same config and the same training data
(fingerprint) continues from it; since the data order, augmentation and torch's generator are reseeded from
(seed, epoch) at each epoch, the result equals an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from dvclive import Live
from torch import nn

from wssam.devices import resolve_device, uses_bf16
from wssam.io import write_json
from wssam.models.builder import build_model, count_parameters_millions
from wssam.models.checkpoint import read_checkpoint, save_checkpoint
from wssam.models.config import ModelConfig
from wssam.train.config import TrainConfig
from wssam.train.dataset import Record, TrainingImages, data_fingerprint, load_records, split_names
from wssam.train.layout import best_checkpoint, last_checkpoint
from wssam.train.loop import train_epoch, validate
from wssam.train.run_state import RunState, continues, restore_rng_states, seed_everything

ModelBuilder = Callable[[ModelConfig], nn.Module]


def train(
    *,
    config: TrainConfig,
    manifest: str | os.PathLike[str],
    scored_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    log_dir: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    build: ModelBuilder = build_model,
    device: torch.device | None = None,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train on the kept images, write ``model.pt``/``last.pt`` in ``output_dir``, dvclive logs, metrics JSON.

    ``device``: None = CUDA when there is a GPU, else the CPU. ``stop_after_epochs`` ends this call after that many
    epochs in total (an interruption, for tests and for splitting a long run); the next call resumes. Returns the
    metrics dict written to ``metrics_path``.
    """
    started = time.perf_counter()
    device = device or resolve_device("auto")
    bf16 = uses_bf16(config.precision, device)
    records = load_records(manifest, scored_dir)
    fingerprint = data_fingerprint(records)
    train_set, val_set = _split(records, config)

    seed_everything(config.seed)
    model = build(config.model).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    state = _resume(last_checkpoint(output_dir), config, fingerprint, model, optimizer) if config.resume else None
    state = state or RunState()
    seconds_before = state.seconds

    live = Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None, report=None)
    for entry in state.history:  # replay earlier epochs: the log folder is rebuilt whole on every run
        _log_epoch(live, entry)
    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    for epoch in range(state.epoch, last_epoch):
        train_loss, lr, steps = train_epoch(
            model, optimizer, train_set, config, epoch=epoch, first_step=state.step, device=device, bf16=bf16
        )
        scores = validate(model, val_set, config, device, bf16)
        entry = {"epoch": epoch + 1, "train_loss": train_loss, **scores, "lr": lr}
        _log_epoch(live, entry)
        if state.finish_epoch(entry, model.state_dict(), steps=steps, has_validation=len(val_set) > 0):
            save_checkpoint(best_checkpoint(output_dir), state.best_checkpoint(config, fingerprint))
        state.seconds = seconds_before + time.perf_counter() - started
        save_checkpoint(last_checkpoint(output_dir), state.last_checkpoint(config, fingerprint, model, optimizer))
        print(
            f"epoch {epoch + 1}/{config.epochs}: train_loss {train_loss:.4f} val_loss {scores['val_loss']:.4f}"
            f" val_mae {scores['val_mae']:.4f} lr {lr:.2e}"
        )
    live.end()

    # written at every new best epoch; here only when resumed from a finished run whose model.pt was removed
    if state.best_weights is not None and not best_checkpoint(output_dir).is_file():
        save_checkpoint(best_checkpoint(output_dir), state.best_checkpoint(config, fingerprint))
    metrics = _summary(state, model, len(train_set), len(val_set), seconds_before + time.perf_counter() - started)
    write_json(metrics_path, metrics)
    return metrics


def _split(records: list[Record], config: TrainConfig) -> tuple[TrainingImages, TrainingImages]:
    """Training images (augmented) and held-out validation images (resized only), split by a seeded permutation."""
    train_names, val_names = split_names([r.name for r in records], config.val_fraction, config.seed)
    by_name = {r.name: r for r in records}
    train_set = TrainingImages([by_name[n] for n in train_names], config.image_size, config.augment, config.seed)
    val_set = TrainingImages([by_name[n] for n in val_names], config.image_size, None, config.seed)
    return train_set, val_set


def _resume(
    path: Path, config: TrainConfig, fingerprint: str, model: nn.Module, optimizer: torch.optim.Optimizer
) -> RunState | None:
    """Load ``last.pt`` into ``model``, ``optimizer`` and the global generators when it continues this exact run
    (same config and data); returns its run state, or None to start from scratch."""
    if not path.is_file():
        return None
    saved = read_checkpoint(path, fix="delete it to start training afresh")
    if not continues(saved, config, fingerprint):
        print(f"{path}: config or training data changed; starting from scratch")
        return None
    model.load_state_dict(saved["weights"])
    optimizer.load_state_dict(saved["optimizer"])
    restore_rng_states(saved["run"]["rng"])
    print(f"resuming after epoch {saved['epoch']} of {config.epochs} from {path}")
    return RunState.from_checkpoint(saved)


def _summary(state: RunState, model: nn.Module, train_images: int, val_images: int, seconds: float) -> dict[str, Any]:
    """The training metrics: best epoch and its scores, last training loss, sizes, parameters, time."""
    return {
        "best_epoch": state.best["epoch"],
        "best_val_mae": _finite_or_none(state.best["val_mae"]),
        "best_val_loss": _finite_or_none(state.best["val_loss"]),
        "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
        "epochs": len(state.history),
        "train_images": train_images,
        "val_images": val_images,
        "params_millions": round(count_parameters_millions(model), 4),
        "seconds": round(seconds, 2),
    }


def _log_epoch(live: Live, entry: dict[str, float]) -> None:
    for name in ("train_loss", "val_loss", "val_mae", "lr"):
        if math.isfinite(entry[name]):
            live.log_metric(name, entry[name])
    live.next_step()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
