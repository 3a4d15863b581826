"""The weight rule of ``../shared/fixtures/released-network`` (see its SOURCE.md): weights for the released code's
key names, made from the names alone, so that the released code's recorded outputs can be reproduced."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


def rule_tensor(index: int, key: str, shape: list[int]) -> torch.Tensor:
    """The tensor the rule gives the ``index``-th key (keys sorted as Python sorts strings)."""
    generator = torch.Generator().manual_seed(index)
    last = key.rsplit(".", 1)[-1]
    if last == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.long)
    if last == "running_mean":
        return 0.1 * torch.randn(shape, generator=generator)
    if last == "running_var":
        return 0.5 + torch.rand(shape, generator=generator)
    if len(shape) >= 2:
        return torch.randn(shape, generator=generator) / math.sqrt(math.prod(shape[1:]))
    if last == "weight":
        return 1.0 + 0.1 * torch.randn(shape, generator=generator)
    return 0.1 * torch.randn(shape, generator=generator)


def released_shapes(fixture: Path) -> dict[str, list[int]]:
    """Every key of the released network's ``state_dict()`` with its shape, in the released code's names."""
    return json.loads((fixture / "network.json").read_text())["state_dict_shapes"]


def rule_state_dict(fixture: Path, *, prefix: str = "") -> dict[str, torch.Tensor]:
    """The rule's weights in the released key layout, each key with ``prefix`` (``module.`` for DataParallel)."""
    shapes = released_shapes(fixture)
    return {prefix + key: rule_tensor(i, key, shapes[key]) for i, key in enumerate(sorted(shapes))}
