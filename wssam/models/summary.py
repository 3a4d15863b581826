"""A network's size and cost: parameters per part and GFLOPs per image, for any ``train.model`` configuration.

Parts are the network's top-level modules (for WS-SAM and the released network: backbone, texture enhancement,
grouping, fusion, prior, decoder). FLOPs are counted by PyTorch's ``FlopCounterMode`` over one forward pass of one
image: matrix products and convolutions, 2 FLOPs per multiply-add (the convention of the released code's
``2 * macs``); element-wise work is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from wssam.models.builder import build_model
from wssam.models.config import ModelConfig, check_input_side


@dataclass(frozen=True)
class PartCost:
    """One top-level part: its name, parameters and forward FLOPs per image."""

    name: str
    parameters: int
    flops: int


def summarise(config: ModelConfig, size: int) -> list[PartCost]:
    """Parameters and forward FLOPs per part of the network of ``config`` for one ``size`` x ``size`` image.

    Built with random weights (``backbone_weights`` is ignored: weights do not change either figure).
    """
    check_input_side(size, "--size")
    torch.manual_seed(0)
    model = build_model(config.replace(backbone_weights="none")).eval().requires_grad_(False)
    with FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, size, size))
    totals = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    prefix = type(model).__name__
    return [
        PartCost(name, sum(p.numel() for p in part.parameters()), _part_flops(totals, f"{prefix}.{name}", part))
        for name, part in model.named_children()
    ]


def _part_flops(totals: dict[str, int], name: str, part: torch.nn.Module) -> int:
    """FLOPs counted under the module ``name``; a container that is never called itself (``nn.ModuleList``) is the
    sum of its members."""
    if name in totals:
        return totals[name]
    return sum(_part_flops(totals, f"{name}.{child}", module) for child, module in part.named_children())


def format_summary(parts: list[PartCost]) -> list[str]:
    """The table lines and the closing ``params_millions=<total> gflops=<per image>`` line."""
    total_parameters = sum(part.parameters for part in parts)
    total_flops = sum(part.flops for part in parts)
    lines = [f"{'part':<12}{'parameters':>14}{'GFLOPs':>10}"]
    lines += [f"{part.name:<12}{part.parameters:>14,}{part.flops / 1e9:>10.2f}" for part in parts]
    lines.append(f"{'total':<12}{total_parameters:>14,}{total_flops / 1e9:>10.2f}")
    lines.append(f"params_millions={total_parameters / 1e6:.2f} gflops={total_flops / 1e9:.2f}")
    return lines
