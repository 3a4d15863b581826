"""Model checkpoints: a network's weights with everything needed to rebuild it, and nothing from training code.

A model checkpoint is a plain dict of tensors and Python values, saved with ``torch.save`` and read with
``weights_only=True`` (no pickled code runs: a file that holds other objects is refused in one line):

- ``model_config``: :class:`~wssam.models.config.ModelConfig` as a dict (validated again when read);
- ``input_size``: the side (pixels) the network was trained at; prediction resizes images to it;
- ``weights``: the state dict.

:func:`load_network` also reads the authors' released checkpoints (see :mod:`wssam.models.released_weights`).
Training adds its own keys beside these (see :mod:`wssam.train.run_state`); readers ignore what they do not know.
The same contents give the same bytes: the zip archive inside is named ``archive`` whatever the file is called
(``torch.save`` to a path names it after the file, which would store the random temporary name).
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from wssam.config import build_config
from wssam.io import InputError
from wssam.models.builder import build_model
from wssam.models.config import ModelConfig, check_input_side
from wssam.models.network import SegmentationNetwork
from wssam.models.released_weights import RELEASED_INPUT_SIZE, RELEASED_MODEL, is_released_layout, released_to_ours
from wssam.staging import atomic_path

MODEL_CONFIG_KEY = "model_config"
INPUT_SIZE_KEY = "input_size"
WEIGHTS_KEY = "weights"


def model_entries(config: ModelConfig, input_size: int, weights: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The keys every model checkpoint holds (see the module docstring)."""
    return {MODEL_CONFIG_KEY: config.to_dict(), INPUT_SIZE_KEY: input_size, WEIGHTS_KEY: weights}


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically (a crash leaves the previous file intact); the same ``state``
    gives the same bytes."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(state, handle)


def load_tensors(path: str | os.PathLike[str], *, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure one InputError line ending with ``fix``:
    missing, not a PyTorch file (random bytes, truncated), or refused because it holds pickled objects other
    than tensors and plain values (they would run code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found; {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about unusual pickle protocols before refusing them
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt files and refused pickles
        text = str(error) if zipfile.is_zipfile(path) else ""
        refused = re.search(r"GLOBAL ([\w.]+)", text) if "Weights only load failed" in text else None
        if refused:
            raise InputError(
                f"{path}: refused unread: it holds pickled objects ({refused.group(1)}) besides tensors and plain "
                f"values, which could run code; {fix}"
            ) from None
        raise InputError(
            f"{path}: not a readable PyTorch checkpoint (damaged or another kind of file); {fix}"
        ) from None


def _check_model_keys(path: str | os.PathLike[str], state: Any, fix: str) -> dict[str, Any]:
    missing = [
        k for k in (MODEL_CONFIG_KEY, INPUT_SIZE_KEY, WEIGHTS_KEY) if not isinstance(state, dict) or k not in state
    ]
    if missing:
        raise InputError(f"{path}: not a wssam model checkpoint (no {', '.join(missing)}); {fix}")
    return state


def read_checkpoint(path: str | os.PathLike[str], *, fix: str = "rerun the train stage") -> dict[str, Any]:
    """Read a checkpoint dict on the CPU without running pickled code; a missing, corrupt or refused file, or one
    without the model keys, is an InputError naming it and ending with ``fix``."""
    return _check_model_keys(path, load_tensors(path, fix=fix), fix)


def load_network(path: str | os.PathLike[str]) -> tuple[SegmentationNetwork, ModelConfig, int]:
    """The network saved in ``path`` in eval mode on the CPU, its config and its input side.

    ``path`` is a wssam model checkpoint, or a state dict in the released code's layout (an authors' checkpoint,
    with or without DataParallel's ``module.`` prefix), which gives the ``released`` network at its 384 input.
    The stored model config is validated as params.yaml would be; the backbone is built without pretrained weights
    (the checkpoint holds all weights), so no other file is needed.
    """
    fix = "rerun the train stage, or give a wssam or released WS-SAM checkpoint"
    state = load_tensors(path, fix=fix)
    if is_released_layout(state):
        config = ModelConfig(**RELEASED_MODEL)
        model = build_model(config)
        model.load_state_dict(released_to_ours(state, model.state_dict(), source=path))
        return model.eval(), config, RELEASED_INPUT_SIZE
    state = _check_model_keys(path, state, fix)
    config = build_config(ModelConfig, state[MODEL_CONFIG_KEY], f"{path}: model_config")
    try:
        input_size = check_input_side(int(state[INPUT_SIZE_KEY]), "input_size")
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: {error}; rerun the train stage") from None
    model = build_model(config.replace(backbone_weights="none"))
    weights = state[WEIGHTS_KEY]
    misfit = weights_misfit(weights, model.state_dict()) if isinstance(weights, dict) else "not a dict of tensors"
    if misfit:
        raise InputError(f"{path}: weights do not fit the network in its model_config ({misfit}); {fix}")
    model.load_state_dict(weights)
    return model.eval(), config, input_size


def weights_misfit(weights: dict[str, Any], expected: dict[str, torch.Tensor]) -> str:
    """What keeps ``weights`` from loading strictly where ``expected`` (a network's state dict) is: the counts of
    missing and unexpected keys and of tensors of another shape, each with its first key; ``""`` when they fit."""
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [
        f"{k} {tuple(getattr(weights[k], 'shape', ()))} against {tuple(v.shape)}"
        for k, v in expected.items()
        if k in weights and tuple(getattr(weights[k], "shape", ())) != tuple(v.shape)
    ]
    parts = [f"{len(found)} {what}, e.g. {found[0]}" for what, found in
             (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if found]  # fmt: skip
    return "; ".join(parts)
