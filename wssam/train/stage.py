"""The ``train`` stage: the network trained on the kept images, with checkpoints, resume, logs and metrics.

Resume: ``last.pt`` is written after every epoch. A later run of an UNFINISHED run with the same config, training
data (fingerprint) and code continues from it; since the data order, augmentation and torch's generator are
reseeded from (seed, epoch) at each epoch, the result equals an uninterrupted run. A finished run is trained again
(``dvc repro --force`` retrains). A ``last.pt`` that cannot be read or restored is renamed aside with a warning
and training starts afresh. The metrics hold no timings, so the same run gives the same files.

Outputs: ``model.pt`` (the best epoch, whose weights ``last.pt`` carries meanwhile), the dvclive log folder and the
metrics JSON are put in place together when the run finishes, with Ctrl-C and SIGTERM held off for that moment (the
log is written into a staging folder, the earlier epochs of a resumed run replayed into it). So an interrupted run,
a call stopped by ``stop_after_epochs`` included, leaves the outputs of the run before it as they were.

Under torchrun the processes train one network with DistributedDataParallel (:mod:`wssam.train.parallel`,
:mod:`wssam.train.loop`): rank 0 decides whether to resume, validates, logs (dvclive), writes the checkpoints and
the metrics; the others follow its decision and wait at a barrier at the end, so the stage ends only when every
file is whole. A ``last.pt`` resumes only with the process count that wrote it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from dvclive import Live
from torch import nn

from wssam.cli import figure, progress
from wssam.devices import uses_bf16
from wssam.distributed import World, barrier, from_main, process_group, world_from_env
from wssam.io import InputError, write_json
from wssam.models.builder import build_model, count_parameters_millions
from wssam.models.checkpoint import read_checkpoint, save_checkpoint
from wssam.models.config import ModelConfig
from wssam.staging import remove_temporaries, staged_outputs
from wssam.train.config import TrainConfig
from wssam.train.dataset import Record, TrainingImages, data_fingerprint, load_records, split_names
from wssam.train.ema import EMA_KEY, WeightAverage
from wssam.train.layout import best_checkpoint, last_checkpoint
from wssam.train.loop import make_optimizer, train_epoch, validate
from wssam.train.parallel import backend, check_batch_per_process, distributed, training_device
from wssam.train.run_state import (
    RunIdentity,
    RunState,
    restore_rng_states,
    seed_everything,
    set_aside,
    why_not_continued,
)

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
    show_progress: bool = True,
    loader_workers: int = 0,
    resume: bool = True,
) -> dict[str, Any] | None:
    """Train on the kept images, write ``model.pt``/``last.pt`` in ``output_dir``, dvclive logs, metrics JSON.

    ``device``: None = this process's GPU when there are GPUs, else the CPU. ``stop_after_epochs`` ends this call
    after that many epochs in total (an interruption, for tests and for splitting a long run); the next call
    resumes. ``show_progress``: a progress bar per epoch on stderr. ``loader_workers``: processes reading and
    augmenting images (the result does not depend on it). ``resume``: continue from ``last.pt`` where it continues
    this run (see the module docstring). Returns the metrics dict written to ``metrics_path``
    (the training time is in ``seconds`` of the returned dict only); None in the processes other than rank 0.
    """
    world = world_from_env()
    device = device or training_device(world)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl runs its collectives (the resume decision, the last barrier) there
    with process_group(world, backend(device)):
        return _train(config, manifest, scored_dir, output_dir, log_dir, metrics_path, build, device,
                      stop_after_epochs, show_progress, loader_workers, resume, world)  # fmt: skip


def _train(
    config: TrainConfig,
    manifest: str | os.PathLike[str],
    scored_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    log_dir: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    build: ModelBuilder,
    device: torch.device,
    stop_after_epochs: int | None,
    show_progress: bool,
    loader_workers: int,
    resume: bool,
    world: World,
) -> dict[str, Any] | None:
    """:func:`train` as process ``world.rank`` of ``world.size``."""
    started = time.perf_counter()
    if world.is_main:
        remove_temporaries(best_checkpoint(output_dir), last_checkpoint(output_dir), log_dir, metrics_path)
    bf16 = uses_bf16(config.precision, device)
    records = load_records(manifest, scored_dir)
    fingerprint = data_fingerprint(records)
    train_set, val_set = _split(records, config)
    check_batch_per_process(config.batch_size, len(train_set), world, config.model.name, config.image_size)
    run = RunIdentity(config, fingerprint, world.size, "bf16" if bf16 else "fp32")

    model, optimizer, average = _fresh_start(config, build, device)
    state = None
    if resume:
        resumed = _resume(last_checkpoint(output_dir), run, world, model, optimizer, average)
        if resumed is _UNUSABLE:
            model, optimizer, average = _fresh_start(config, build, device)
        else:
            state = resumed
    state = state or RunState()
    seconds_before = state.seconds
    session = _Session(run, model, distributed(model, world, device), optimizer, average, train_set, val_set, device,
                       bf16, world, loader_workers, show_progress)  # fmt: skip
    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, stop_after_epochs)
    with staged_outputs(*([log_dir] if world.is_main else [])) as staged:
        _run_epochs(session, state, last_epoch, staged[log_dir] if world.is_main else None, output_dir, started)
        if not world.is_main:
            barrier(world)  # rank 0 validates and writes; the stage ends when its files are whole
            return None
        metrics = _summary(state, model, len(train_set), len(val_set))
        if state.epoch >= config.epochs:  # finished: its outputs go in place together
            with staged.commit():
                save_checkpoint(best_checkpoint(output_dir), state.best_checkpoint(config, fingerprint))
                write_json(metrics_path, metrics)
    barrier(world)
    return {**metrics, "seconds": round(seconds_before + time.perf_counter() - started, 2)}


@dataclass(frozen=True)
class _Session:
    """What one call of :func:`train` trains with: the run, the network (``trained``: wrapped for DDP, or
    ``model`` itself), its optimiser and weight average, the image sets, and how this process runs."""

    run: RunIdentity
    model: nn.Module
    trained: nn.Module
    optimizer: torch.optim.Optimizer
    average: WeightAverage
    train_set: TrainingImages
    val_set: TrainingImages
    device: torch.device
    bf16: bool
    world: World
    loader_workers: int
    show_progress: bool


def _run_epochs(
    session: _Session,
    state: RunState,
    last_epoch: int,
    log_dir: Path | None,
    output_dir: str | os.PathLike[str],
    started: float,
) -> None:
    """Train epochs ``state.epoch + 1`` .. ``last_epoch``, updating ``state``; rank 0 (``log_dir`` given) validates,
    logs into ``log_dir`` (dvclive; the earlier epochs are replayed, so it holds the whole run) and writes
    ``last.pt`` in ``output_dir`` after every epoch: the resume point, which holds the best epoch's weights.
    ``started``: when this call began (``perf_counter``), for ``state.seconds``."""
    config, world, average = session.run.config, session.world, session.average
    seconds_before = state.seconds
    live = Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None, report=None) if log_dir is not None else None
    for entry in state.history if live is not None else []:
        _log_epoch(live, entry)
    for epoch in range(state.epoch, last_epoch):
        bar = _epoch_bar(f"train epoch {epoch + 1}/{config.epochs}", session.show_progress and world.is_main)
        train_loss, lr, steps = train_epoch(
            session.trained, session.optimizer, session.train_set, config, epoch=epoch, first_step=state.step,
            device=session.device, bf16=session.bf16, batches=bar, world=world,
            loader_workers=session.loader_workers, after_step=average.update,
        )  # fmt: skip
        if live is None:
            state.epoch, state.step = epoch + 1, state.step + steps
            continue
        scores = validate(average.network, session.val_set, config, session.device, session.bf16)
        entry = {"epoch": epoch + 1, "train_loss": train_loss, **scores, "lr": lr}
        _log_epoch(live, entry)
        state.finish_epoch(entry, average.network.state_dict(), steps=steps, has_validation=len(session.val_set) > 0)
        state.seconds = seconds_before + time.perf_counter() - started
        last = state.last_checkpoint(session.run, session.model, session.optimizer, average=average.state())
        save_checkpoint(last_checkpoint(output_dir), last)
        print(
            f"epoch {epoch + 1}/{config.epochs}: train_loss {figure(train_loss)} val_loss {figure(scores['val_loss'])}"
            f" val_mae {figure(scores['val_mae'])} lr {lr:.2e}"
        )
    if live is not None:
        live.end()


_UNUSABLE = RunState(epoch=-1)  # _resume's answer for a resume point that was set aside


def _fresh_start(
    config: TrainConfig, build: ModelBuilder, device: torch.device
) -> tuple[nn.Module, torch.optim.Optimizer, WeightAverage]:
    """The seeded, untrained network in training mode, its optimiser and its weight average."""
    seed_everything(config.seed)
    model = build(config.model).to(device)
    model.train()
    return model, make_optimizer(model, config), WeightAverage(model, config.ema_decay)


def _epoch_bar(desc: str, enabled: bool) -> Callable[[list], Any]:
    """Wraps an epoch's batches in a progress bar (steps, rate, time left) that disappears when the epoch ends."""
    return lambda batches: progress(batches, desc=desc, unit="batch", enabled=enabled, leave=False)


def _split(records: list[Record], config: TrainConfig) -> tuple[TrainingImages, TrainingImages]:
    """Training images (augmented) and held-out validation images (resized only), split by a seeded permutation."""
    train_names, val_names = split_names([r.name for r in records], config.val_fraction, config.seed)
    by_name = {r.name: r for r in records}
    weights = config.loss.entropy_weighting
    train_set = TrainingImages([by_name[n] for n in train_names], config.image_size, config.augment, config.seed,
                               entropy_weights=weights)  # fmt: skip
    val_set = TrainingImages([by_name[n] for n in val_names], config.image_size, None, config.seed,
                             entropy_weights=weights)  # fmt: skip
    return train_set, val_set


def _resume(
    path: Path,
    run: RunIdentity,
    world: World,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    average: WeightAverage,
) -> RunState | None:
    """Rank 0 decides whether ``last.pt`` continues this run and loads it (:func:`_load_resume_point`); the other
    processes follow its decision. Returns the run state, None to start from scratch, or ``_UNUSABLE`` when the
    file could not be used (then the caller starts afresh from a new network)."""
    state = _load_resume_point(path, run, model, optimizer, average) if world.is_main else None
    decision = from_main(world, "none" if state is None else "unusable" if state is _UNUSABLE else "resume")
    if world.is_main or decision == "none":
        return state
    if decision == "unusable":
        return _UNUSABLE
    saved = read_checkpoint(path, fix="renamed aside")
    _restore(saved, model, optimizer, average)
    return RunState.from_checkpoint(saved)


def _load_resume_point(
    path: Path,
    run: RunIdentity,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    average: WeightAverage,
) -> RunState | None:
    """Load ``last.pt`` into ``model``, ``optimizer`` and the global generators when it continues ``run`` (an
    unfinished run, same config, data, code, process count and precision); returns its run state, None to start
    from scratch, or ``_UNUSABLE`` when the file could not be read or restored (it is renamed aside with a
    warning)."""
    if not path.is_file():
        return None
    try:
        saved = read_checkpoint(path, fix="renamed aside")
        reason = why_not_continued(saved, run)
        if reason is not None:
            print(f"{path}: {reason}; training from scratch")
            return None
        _restore(saved, model, optimizer, average)
        state = RunState.from_checkpoint(saved)
    except InputError as error:
        aside = set_aside(path)
        print(f"warning: {error} ({aside.name}); training from scratch")
        return _UNUSABLE
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        aside = set_aside(path)
        print(f"warning: {path}: cannot restore the run from it ({detail}); renamed aside ({aside.name}); "
              "training from scratch")  # fmt: skip
        return _UNUSABLE
    print(f"resuming after epoch {saved['epoch']} of {run.config.epochs} from {path}")
    return state


def _restore(saved: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, average: WeightAverage) -> None:
    """Load a ``last.pt``'s weights, optimiser state, weight average and global generator states."""
    model.load_state_dict(saved["weights"])
    optimizer.load_state_dict(saved["optimizer"])
    average.restore(saved.get(EMA_KEY))
    restore_rng_states(saved["run"]["rng"])


def _summary(state: RunState, model: nn.Module, train_images: int, val_images: int) -> dict[str, Any]:
    """The training metrics: best epoch and its scores, last training loss, sizes, parameters (no timings: the
    same run writes the same file)."""
    return {
        "best_epoch": state.best["epoch"],
        "best_val_mae": _finite_or_none(state.best["val_mae"]),
        "best_val_loss": _finite_or_none(state.best["val_loss"]),
        "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
        "epochs": len(state.history),
        "train_images": train_images,
        "val_images": val_images,
        "params_millions": round(count_parameters_millions(model), 4),
    }


def _log_epoch(live: Live, entry: dict[str, float]) -> None:
    for name in ("train_loss", "val_loss", "val_mae", "lr"):
        if math.isfinite(entry[name]):
            live.log_metric(name, entry[name])
    live.next_step()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
