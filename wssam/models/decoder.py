"""Top-down cross-level fusion and the prior-guided decoder of the WS-SAM network.

Levels are numbered 1..4 for strides 4, 8, 16, 32. All features here have the same ``channels`` width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wssam.models.blocks import (
    ChannelAttention,
    ConvBNReLU,
    ResidualChannelAttentionBlock,
    SpatialAttention,
    resize_to,
)


class CrossLevelFusion(nn.Module):
    """Top-down fusion: f_i' = SA(CA(conv1x1(concat(f_i, up(f_{i+1}'))))) for i = 3, 2, 1; f_4' = f_4.

    ``forward([f1, f2, f3, f4])`` with f_i (B, C, h_i, w_i) -> the fused list, same shapes. The 1x1 conv mixes the
    two levels' channels; the spatial context comes from the texture enhancement before it, the spatial attention's
    7x7 gate and the decoder's RCABs after it (with a 3x3 conv the fusion cost 7.1 GFLOP per 384 px image at width
    128, 5.4 of them at the finest level; with the 1x1, 0.8).
    """

    def __init__(self, channels: int, levels: int = 4) -> None:
        super().__init__()
        self.merge = nn.ModuleList(
            nn.Sequential(ConvBNReLU(2 * channels, channels, 1), ChannelAttention(channels), SpatialAttention())
            for _ in range(levels - 1)
        )

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        fused = [features[-1]]
        for level in range(len(features) - 2, -1, -1):
            upper = resize_to(fused[0], features[level].shape[-2:])
            fused.insert(0, self.merge[level](torch.cat([features[level], upper], dim=1)))
        return fused


class PriorGuidedStage(nn.Module):
    """One decoder stage: split features by the previous prediction into foreground and background streams.

    ``forward(x, previous)``: features x (B, C, h, w), previous logits (B, 1, h', w') ->
    (features (B, C, h, w), logits (B, 1, h, w)). With p = sigmoid(previous) resized to (h, w), the streams are
    RCABs(x * p) and RCABs(x * (1 - p)); their concatenation is merged by a 1x1 conv (the RCABs' 3x3 convs give the
    spatial context; a 3x3 merge of the 2C channels was 30 % of the decoder's FLOPs)
    and a 1x1 head predicts a residual added to the previous logits.
    """

    def __init__(self, channels: int, blocks: int = 2) -> None:
        super().__init__()
        self.foreground = nn.Sequential(*(ResidualChannelAttentionBlock(channels) for _ in range(blocks)))
        self.background = nn.Sequential(*(ResidualChannelAttentionBlock(channels) for _ in range(blocks)))
        self.merge = ConvBNReLU(2 * channels, channels, 1)
        self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, x: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        previous = resize_to(previous, x.shape[-2:])
        probability = torch.sigmoid(previous)
        streams = [self.foreground(x * probability), self.background(x * (1.0 - probability))]
        features = self.merge(torch.cat(streams, dim=1))
        return features, previous + self.head(features)


class PriorGuidedDecoder(nn.Module):
    """Four :class:`PriorGuidedStage` from the deepest level to the finest, each refining the previous map.

    ``forward(fused, prior_features, prior_logits)``: fused features [f1..f4] (B, C, h_i, w_i), the global prior's
    features and logits at stride 32 -> logits ``{"p4": ..., "p1": ...}`` each (B, 1, h_i, w_i). The features of a
    stage, upsampled, are added to the next (finer) level's input.
    """

    def __init__(self, channels: int, blocks: int = 2, levels: int = 4) -> None:
        super().__init__()
        self.stages = nn.ModuleList(PriorGuidedStage(channels, blocks) for _ in range(levels))

    def forward(self, fused: list[Tensor], prior_features: Tensor, prior_logits: Tensor) -> dict[str, Tensor]:
        outputs: dict[str, Tensor] = {}
        carried, logits = prior_features, prior_logits
        for level in range(len(fused), 0, -1):
            x = fused[level - 1] + resize_to(carried, fused[level - 1].shape[-2:])
            carried, logits = self.stages[level - 1](x, logits)
            outputs[f"p{level}"] = logits
        return outputs
