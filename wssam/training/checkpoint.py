"""Checkpoints: plain dicts of tensors and Python values that always carry the training config.

- ``model.pt`` (the best epoch by validation): ``config`` (``asdict(TrainConfig)``), ``model`` (state dict),
  ``epoch`` (1-based), ``val_mae``, ``val_loss``, ``fingerprint`` (of the training data). Enough to rebuild the
  network without params.yaml.
- ``last.pt`` (the end of the last finished epoch, for resuming): the same keys plus ``optimizer``, ``step``
  (global optimisation steps done), ``best`` (best epoch's scores), ``best_model`` (its weights, or None when the
  best epoch is this one: then they are ``model``), ``history`` (per-epoch metrics), ``seconds`` (training time so
  far) and ``rng`` (torch, numpy and Python generator states). Metrics use 1-based epochs.

Files are written atomically and read with ``weights_only=True`` (no arbitrary pickles).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wssam.io import InputError, atomic_path

BEST_NAME = "model.pt"
LAST_NAME = "last.pt"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically (a crash leaves the previous file intact)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` on the CPU; a missing/corrupt file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found; run the train stage first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise InputError(f"{path}: cannot read checkpoint ({error}); delete it and rerun the train stage") from error
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise InputError(f"{path}: not a wssam checkpoint (no config/model); rerun the train stage")
    return state


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
