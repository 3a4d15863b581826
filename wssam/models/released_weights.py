"""Weights in the released code's layout: the authors' checkpoints, mapped key by key onto our ``released`` network.

The authors' training script saves ``model.state_dict()`` of a ``torch.nn.DataParallel`` (so every key may start
with ``module.``) for the network of their ``lib/Network.py``. :func:`released_to_ours` renames those keys to the
modules of :class:`~wssam.models.released.ReleasedNet` by the rules in :data:`RENAMES`; the mapping is strict: a key
no rule accounts for, or a key of ours that the file lacks, is an error naming it. Only tensors are read
(``torch.load(weights_only=True)``): no pickled code runs.

Key layout of the released network: ``shared_encoder.*`` (timm ResNet-50, torchvision's names),
``gcm_interFA.T1..T4`` (texture), ``gcm_interFA.ODE4`` (grouping), ``gcm_interFA.interFA1..3`` (fusion), ``GPM``
(prior), ``rem_decoder.decoder1..4`` (decoder); conv + BN units are ``<unit>.conv`` / ``<unit>.bn``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from wssam.io import InputError

DATA_PARALLEL_PREFIX = "module."
#: the released code's training input side (its grouping is built for the 12 x 12 grid of a 384 input)
RELEASED_INPUT_SIZE = 384
#: the released network's configuration (``train.model``) and the first key of each of its parts
RELEASED_MODEL = {
    "name": "released",
    "backbone": "resnet50",
    "backbone_weights": "none",
    "width": 128,
    "grouping": True,
}
RELEASED_MARKERS = ("shared_encoder.", "gcm_interFA.", "GPM.", "rem_decoder.")


#: (pattern, replacement) applied in this order to every released key; each part is renamed whole, then the
#: conv + BN units (``.conv`` / ``.bn``) become our ``ConvBNReLU`` indices (``.0`` / ``.1``)
RENAMES: list[tuple[str, Any]] = [
    # backbone: timm's ResNet keeps torchvision's names; our trunk wraps conv1/bn1 into a stem
    (r"^shared_encoder\.conv1\.", "backbone.stem.0."),
    (r"^shared_encoder\.bn1\.", "backbone.stem.1."),
    (r"^shared_encoder\.(layer\d)\.", r"backbone.\1."),
    # grouping (before the units rule: its 1x1 "conv" has a bias and is not a conv + BN unit)
    (r"^gcm_interFA\.ODE4\.SAn\.", "grouping.first."),
    (r"^gcm_interFA\.ODE4\.SAm\.", "grouping.second."),
    (r"^gcm_interFA\.ODE4\.getalpha\.fc1\.", "grouping.gate.reduce."),
    (r"^gcm_interFA\.ODE4\.getalpha\.fc2\.", "grouping.gate.score."),
    (r"^(grouping\.\w+\.)encoder_pos\.proj\.", r"\1encode_position."),
    (r"^(grouping\.\w+\.)decoder_pos\.proj\.", r"\1decode_position."),
    (r"^(grouping\.\w+\.)layer_norm\.", r"\1norm."),
    (r"^(grouping\.\w+\.)mlp\.", r"\1encode."),
    (r"^(grouping\.\w+\.)conv\.", r"\1render."),
    (r"\.slot_attention\.norm_input\.", ".slot_attention.norm_tokens."),
    (r"\.slot_attention\.norm_pre_ff\.", ".slot_attention.norm_mlp."),
    (r"\.slot_attention\.slots_embedding\.", ".slot_attention.slots_init."),
    (r"\.slot_attention\.project_([qkv])\.", r".slot_attention.to_\1."),
    # conv + BN units everywhere else
    (r"\.conv\.weight$", ".0.weight"),
    (r"\.bn\.", ".1."),
    # texture enhancement
    (r"^(gcm_interFA\.T)(\d)\.", lambda m: f"texture.{int(m.group(2)) - 1}."),
    (r"^(texture\.\d\.)branch(\d)\.", r"\1branches.\2."),
    (r"^(texture\.\d\.)conv_cat\.", r"\1merge."),
    (r"^(texture\.\d\.)conv_res\.", r"\1residual."),
    # cross-level fusion
    (r"^(gcm_interFA\.interFA)(\d)\.", lambda m: f"fusion.{int(m.group(2)) - 1}."),
    (r"^(fusion\.\d\.)conv3x3\.", r"\1merge."),
    (r"^(fusion\.\d\.)cbam\.channel_attention\.shared_MLP\.", r"\1channel_gate.mlp."),
    (r"^(fusion\.\d\.)cbam\.spatial_attention\.conv2d\.", r"\1spatial_gate.conv."),
    (r"^(fusion\.\d\.)conv1x1\.", r"\1project."),
    # global prior
    (r"^GPM\.branch_main\.", "prior.pooled."),
    (r"^GPM\.branch(\d)\.", r"prior.branches.\1."),
    (r"^GPM\.head\.0\.", "prior.merge."),
    (r"^GPM\.head\.1\.(query|key|value)_conv\.", r"prior.attention.\1."),
    (r"^GPM\.head\.1\.gamma$", "prior.attention.gamma"),
    (r"^GPM\.out\.", "prior.head."),
    # decoder
    (r"^(rem_decoder\.decoder)(\d)\.", lambda m: f"decoder.{int(m.group(2)) - 1}."),
    (r"^(decoder\.\d\.)rcab_a\.", r"\1background."),
    (r"^(decoder\.\d\.)rcab_b\.", r"\1foreground."),
    (r"^(decoder\.\d\.)conv3x3\.", r"\1merge."),
    (r"^(decoder\.\d\.)out_s\.", r"\1head."),
    (r"\.body\.3\.conv_du\.", ".body.3.squeeze_excite."),
]
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in RENAMES]


def our_key(released_key: str) -> str:
    """The name in :class:`~wssam.models.released.ReleasedNet` of a released ``state_dict`` key (no prefix)."""
    key = released_key
    for pattern, replacement in _COMPILED:
        key = pattern.sub(replacement, key)
    return key


def strip_data_parallel(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without DataParallel's ``module.`` prefix, when every key has it (else unchanged)."""
    if state and all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        return {key[len(DATA_PARALLEL_PREFIX) :]: value for key, value in state.items()}
    return state


def is_released_layout(state: Any) -> bool:
    """Whether ``state`` is a plain state dict of tensors in the released code's key layout."""
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return False
    keys = strip_data_parallel(state)
    return all(any(key.startswith(marker) for key in keys) for marker in RELEASED_MARKERS)


def released_to_ours(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], *, source: str | os.PathLike[str]
) -> dict[str, torch.Tensor]:
    """Rename the released ``state`` (with or without ``module.``) to the keys of ``expected`` (our model's
    ``state_dict()``), strictly: an unknown key, a missing key or a shape that differs is an InputError naming the
    released key and ``source``."""
    renamed: dict[str, torch.Tensor] = {}
    for key, value in strip_data_parallel(state).items():
        ours = our_key(key)
        if ours not in expected:
            raise InputError(f"{source}: key '{key}' is not part of the released WS-SAM network; not a released file?")
        if tuple(value.shape) != tuple(expected[ours].shape):
            raise InputError(
                f"{source}: key '{key}' has shape {tuple(value.shape)}, the released network needs "
                f"{tuple(expected[ours].shape)} (channels 128 on ResNet-50)"
            )
        renamed[ours] = value
    missing = [key for key in expected if key not in renamed]
    if missing:
        raise InputError(f"{source}: {len(missing)} weights of the released network are missing, e.g. '{missing[0]}'")
    return renamed
