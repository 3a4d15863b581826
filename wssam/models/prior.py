"""Global prior on the deepest backbone stage: ASPP-like context + position attention -> a coarse map.

Shapes: input (B, C_in, h, w) at stride 32 -> (features (B, C, h, w), logits (B, 1, h, w)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wssam.models.blocks import ConvBNReLU


class PositionAttention(nn.Module):
    """Non-local (DANet-style) position attention: x + gamma * V softmax(Q^T K), gamma learned from 0.

    (B, C, h, w) -> (B, C, h, w); memory grows with (h * w)^2, fine at stride 32.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        inner = max(channels // reduction, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # (B, N, C')
        key = self.key(x).flatten(2)  # (B, C', N)
        attention = torch.softmax(torch.bmm(query, key), dim=-1)  # (B, N, N), rows sum to 1
        context = torch.bmm(self.value(x).flatten(2), attention.transpose(1, 2))  # (B, C, N)
        return x + self.gamma * context.reshape(batch, channels, height, width)


class AtrousContext(nn.Module):
    """ASPP-like context: global pooling, 1x1, and 3x3 convs dilated by ``rates``; concatenated and merged by 1x1.

    (B, C_in, h, w) -> (B, C, h, w). padding = dilation keeps the size on any map (large rates mostly read zeros
    on small maps). The pooling branch has no BatchNorm so batch size 1 trains.
    """

    def __init__(self, in_channels: int, channels: int, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        self.pooled = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(
            [ConvBNReLU(in_channels, channels, 1)] + [ConvBNReLU(in_channels, channels, 3, dilation=r) for r in rates]
        )
        self.merge = ConvBNReLU(channels * (len(rates) + 2), channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.pooled(F.adaptive_avg_pool2d(x, 1)).expand(-1, -1, *x.shape[-2:])
        return self.merge(torch.cat([pooled, *(branch(x) for branch in self.branches)], dim=1))


class GlobalPrior(nn.Module):
    """Coarse localisation from the deepest stage: AtrousContext -> PositionAttention -> 3x3 conv -> 1x1 head.

    ``forward(x)``: (B, C_in, h, w) -> (features (B, C, h, w), logits (B, 1, h, w)).
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.context = AtrousContext(in_channels, channels)
        self.attention = PositionAttention(channels)
        self.refine = ConvBNReLU(channels, channels, 3)
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.refine(self.attention(self.context(x)))
        return features, self.head(features)
