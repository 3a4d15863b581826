"""Where a training run stands: one small type that writes and reads its own checkpoint keys.

``model.pt`` (the best epoch) and ``last.pt`` (the end of the last finished epoch) are model checkpoints
(:mod:`wssam.models.checkpoint`: ``model_config``, ``input_size``, ``weights``) with training's keys beside them:

- both: ``train_config`` (:class:`~wssam.train.config.TrainConfig` as a dict), ``fingerprint`` (of the training
  data), ``epoch`` (1-based epoch of these weights), ``val_mae``, ``val_loss``;
- ``last.pt`` only: ``optimizer``, ``code`` (a fingerprint of the wssam sources that trained it), ``processes``
  (how many DDP processes trained it: the batch-norm statistics depend on it), ``precision`` (``bf16`` or ``fp32``:
  what its steps computed in, ``train.precision: auto`` resolved on that machine), ``ema`` (the weight average's state,
  :mod:`wssam.train.ema`; None without one), and the
  :class:`RunState` under ``run``: ``step`` (optimisation steps done), ``history`` (per-epoch metrics), ``best``
  (the best epoch's scores), ``best_weights`` (its weights, or None when the best epoch is the last one: then they
  are ``weights``), ``seconds`` (training time so far) and ``rng`` (torch, NumPy and Python generator states).

Resume (:func:`continues`) only continues an UNFINISHED run with the same config, data, code, processes and
precision (:class:`RunIdentity`); a
finished run is trained again (``dvc repro --force`` retrains, and an edited loss reruns training). A ``last.pt``
that cannot be read or restored is renamed aside (:func:`set_aside`) and training starts afresh.

Metrics use 1-based epochs.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wssam.models.checkpoint import WEIGHTS_KEY, model_entries
from wssam.train.config import TrainConfig
from wssam.train.ema import EMA_KEY

TRAIN_CONFIG_KEY = "train_config"
RUN_KEY = "run"
CODE_KEY = "code"
PROCESSES_KEY = "processes"
PRECISION_KEY = "precision"
#: the suffix of a ``last.pt`` set aside because it could not be read or restored
SET_ASIDE_SUFFIX = ".unusable"


def code_fingerprint() -> str:
    """SHA-256 of the wssam package's Python sources (relative paths and bytes): training code that changed
    between two runs makes ``last.pt`` a stranger's resume point."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def set_aside(path: str | os.PathLike[str]) -> Path:
    """Rename an unusable resume point ``path`` to ``<path>.unusable`` (replacing an older one); returns the name."""
    path = Path(path)
    aside = path.with_name(path.name + SET_ASIDE_SUFFIX)
    os.replace(path, aside)
    return aside


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    """Global generator states in a ``weights_only``-loadable form."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states`."""
    python_state = states["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def cpu_copy(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state dict (so later updates of the model do not change it)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in weights.items()}


@dataclass(frozen=True)
class RunIdentity:
    """What a ``last.pt`` must match to continue a run: the train ``config``, the training data's ``fingerprint``,
    the number of DDP ``processes`` and the ``precision`` the steps compute in: ``"bf16"`` or ``"fp32"``, as
    ``train.precision`` resolves on this machine (``auto`` is bf16 on one host and fp32 on another)."""

    config: TrainConfig
    fingerprint: str
    processes: int = 1
    precision: str = "fp32"


@dataclass
class RunState:
    """A run after ``epoch`` finished epochs (0: not started).

    ``best`` holds ``epoch``, ``val_mae`` and ``val_loss`` of the best epoch so far (by validation MAE; without a
    validation set the latest epoch is the best), ``best_weights`` its weights on the CPU.
    """

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] = field(default_factory=lambda: {"epoch": 0, "val_mae": math.inf, "val_loss": math.inf})
    best_weights: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0

    def finish_epoch(
        self, entry: dict[str, float], weights: dict[str, torch.Tensor], *, steps: int, has_validation: bool
    ) -> bool:
        """Record epoch ``entry["epoch"]`` (its metrics and the model's ``weights``); True when it is the new best."""
        self.epoch, self.step = int(entry["epoch"]), self.step + steps
        self.history.append(entry)
        if has_validation and not entry["val_mae"] < self.best["val_mae"]:
            return False
        self.best = {"epoch": self.epoch, "val_mae": entry["val_mae"], "val_loss": entry["val_loss"]}
        self.best_weights = cpu_copy(weights)
        return True

    def best_checkpoint(self, config: TrainConfig, fingerprint: str) -> dict[str, Any]:
        """The contents of ``model.pt``: the best epoch's weights with the configs and its scores."""
        if self.best_weights is None:
            raise ValueError("no epoch has finished: there is no best model yet")
        return _checkpoint(config, self.best_weights, self.best, fingerprint)

    def last_checkpoint(
        self,
        run: RunIdentity,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        average: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The contents of ``last.pt``: the current weights, the optimiser, the code's fingerprint, the ``run``'s
        identity, this state and the weight ``average``'s state (``ema``; None: no average, the kept weights are
        the trained ones)."""
        scores = {"epoch": self.epoch, **{k: self.history[-1][k] for k in ("val_mae", "val_loss")}}
        progress = {
            "step": self.step,
            "history": self.history,
            "best": self.best,
            # the best epoch's weights are the current ones when it is this epoch and no average is kept
            "best_weights": None if self.best["epoch"] == self.epoch and average is None else self.best_weights,
            "seconds": self.seconds,
            "rng": rng_states(),
        }
        return {**_checkpoint(run.config, model.state_dict(), scores, run.fingerprint),
                "optimizer": optimizer.state_dict(), CODE_KEY: code_fingerprint(), PROCESSES_KEY: run.processes,
                PRECISION_KEY: run.precision, RUN_KEY: progress,
                EMA_KEY: None if average is None else cpu_copy(average)}  # fmt: skip

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> RunState:
        """The state saved by :meth:`last_checkpoint` (generators restored by the caller from ``state["run"]``)."""
        run = state[RUN_KEY]
        best_weights = run["best_weights"] if run["best_weights"] is not None else state[WEIGHTS_KEY]
        return cls(
            epoch=int(state["epoch"]),
            step=int(run["step"]),
            history=list(run["history"]),
            best=dict(run["best"]),
            best_weights=best_weights,
            seconds=float(run["seconds"]),
        )


def why_not_continued(state: dict[str, Any], run: RunIdentity) -> str | None:
    """Why the ``last.pt`` contents ``state`` do not continue ``run``, or None when they do: an unfinished run
    (fewer than ``run.config.epochs`` epochs) with the same config, training data, code, processes and precision."""
    if state.get(TRAIN_CONFIG_KEY) != run.config.to_dict():
        return "the train config changed"
    if state.get("fingerprint") != run.fingerprint:
        return "the training data changed"
    if state.get(CODE_KEY) != code_fingerprint():
        return "the code changed"
    if state.get(PROCESSES_KEY, 1) != run.processes:
        return f"it was trained by {state.get(PROCESSES_KEY, 1)} processes, this run has {run.processes}"
    if state.get(PRECISION_KEY) != run.precision:
        return (f"it was trained in {state.get(PRECISION_KEY)}, this run computes in {run.precision} "
                f"(train.precision: {run.config.precision})")  # fmt: skip
    if int(state.get("epoch", 0)) >= run.config.epochs:
        return "that run finished"
    return None


def continues(state: dict[str, Any], run: RunIdentity) -> bool:
    """Whether the ``last.pt`` contents ``state`` continue ``run`` (see :func:`why_not_continued`)."""
    return why_not_continued(state, run) is None


def _checkpoint(
    config: TrainConfig, weights: dict[str, torch.Tensor], scores: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    """The keys ``model.pt`` and ``last.pt`` share."""
    return {
        **model_entries(config.model, config.image_size, weights),
        TRAIN_CONFIG_KEY: config.to_dict(),
        "fingerprint": fingerprint,
        "epoch": scores["epoch"],
        "val_mae": scores["val_mae"],
        "val_loss": scores["val_loss"],
    }
