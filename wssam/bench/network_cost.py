"""Where a segmentation network's training step spends its arithmetic: parameters and forward FLOPs per part,
and the FLOPs of the whole step (forward and backward), counted by ``torch.utils.flop_counter.FlopCounterMode``.

The parts are the network's top-level modules (WS-SAM: backbone, enhance, grouping, fusion, prior, decoder). Only
the forward is split by part: the counter attributes backward FLOPs to whichever module's hooks are active, which
does not follow the parts. FLOPs are counted as PyTorch's counter does (a multiply-add is 2 FLOPs; convolutions and
matrix products only, so element-wise work such as BatchNorm, activations and the loss is not in the figures).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from wssam.models.builder import build_model
from wssam.train.config import TrainConfig


@dataclass(frozen=True)
class NetworkCost:
    """Costs of one network per image: ``parts`` maps a top-level module name to (parameters in millions,
    forward GFLOP); ``forward_gflop`` is the whole forward as the counter totals it (the parts add up to it when
    every operation sits in a part); ``step_gflop`` is forward + backward of all outputs."""

    name: str
    parts: dict[str, tuple[float, float]]
    forward_gflop: float
    step_gflop: float


def network_cost(config: TrainConfig) -> NetworkCost:
    """Count ``config.model`` on a batch of ``config.batch_size`` random images at ``config.image_size``, fp32, in
    training mode; figures are per image."""
    torch.manual_seed(0)
    model = build_model(config.model).train()
    batch = config.batch_size
    images = torch.rand(batch, 3, config.image_size, config.image_size)
    with FlopCounterMode(display=False) as forward_counter:
        outputs = model(images)
    prefix = type(model).__name__
    counts = forward_counter.get_flop_counts()
    parts = {}
    for name, module in model.named_children():
        # a ModuleList is never called itself: its FLOPs are those of its items
        keys = [f"{prefix}.{name}"] if f"{prefix}.{name}" in counts else [
            key for key in counts if key.startswith(f"{prefix}.{name}.") and key.count(".") == 2
        ]  # fmt: skip
        flops = sum(sum(counts[key].values()) for key in keys)
        parts[name] = (sum(p.numel() for p in module.parameters()) / 1e6, flops / batch / 1e9)
    with FlopCounterMode(display=False) as step_counter:
        outputs = model(images)
        torch.stack([logits.mean() for logits in outputs.values()]).sum().backward()
    forward_gflop = forward_counter.get_total_flops() / batch / 1e9
    return NetworkCost(config.model.name, parts, forward_gflop, step_counter.get_total_flops() / batch / 1e9)


def print_network_costs(configs: list[TrainConfig]) -> list[NetworkCost]:
    """Print a table of :func:`network_cost` for every config; the last line compares the first two networks:
    ``<a>_step_gflop=... <b>_step_gflop=... flop_ratio=<a / b>``."""
    first = configs[0]
    print(
        f"FLOPs per image, {first.model.backbone}, width {first.model.width}, "
        f"{first.image_size}x{first.image_size}, batch {first.batch_size}, fp32"
    )
    print(f"{'network':<10}{'part':<11}{'params M':>10}{'fwd GFLOP':>11}")
    costs = [network_cost(config) for config in configs]
    for cost in costs:
        for part, (millions, gflop) in cost.parts.items():
            print(f"{cost.name:<10}{part:<11}{millions:>10.2f}{gflop:>11.2f}")
        params = sum(millions for millions, _ in cost.parts.values())
        print(f"{cost.name:<10}{'forward':<11}{params:>10.2f}{cost.forward_gflop:>11.2f}")
        print(f"{cost.name:<10}{'step':<11}{'':>10}{cost.step_gflop:>11.2f}  (forward + backward)")
    a, b = costs[0], costs[1]
    print(f"{a.name}_step_gflop={a.step_gflop:.2f} {b.name}_step_gflop={b.step_gflop:.2f} "
          f"flop_ratio={a.step_gflop / b.step_gflop:.3f}")  # fmt: skip
    return costs
