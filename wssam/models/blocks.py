"""Small building blocks shared by the networks: conv units, attention, texture enhancement, resizing.

All maps are ``float`` tensors (B, C, H, W); every block keeps H and W unless its docstring says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def resize_to(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinearly resize ``x`` (B, C, h, w) to (B, C, *size); ``x`` itself when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + optional ReLU; 'same' padding for odd kernels (and for dilation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        dilation: int = 1,
        relu: bool = True,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        padding = ((kh - 1) // 2 * dilation, (kw - 1) // 2 * dilation)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, (kh, kw), padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation style gate: x * sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))), per channel.

    (B, C, H, W) -> (B, C, H, W). No BatchNorm, so it also trains with batch size 1. ``bias``: whether the MLP's
    convolutions have biases (the released code's have none).
    """

    def __init__(self, channels: int, reduction: int = 16, *, bias: bool = True) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=bias), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1, bias=bias)
        )

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        peak = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + peak)


class SpatialAttention(nn.Module):
    """CBAM-style spatial gate: x * sigmoid(conv7x7([mean_c(x), max_c(x)])). (B, C, H, W) -> same."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class TextureEnhance(nn.Module):
    """Multi-branch texture enhancement: (B, C_in, H, W) -> (B, out, H, W).

    Parallel branches read the input: branch 0 is a 1x1 conv; branch k (k = 3, 5, 7) is 1x1, then 1xk, then kx1,
    then a 3x3 conv dilated by k. The branches are concatenated and merged by a 3x3 conv, then added to a 1x1
    residual projection of the input, and a ReLU follows the sum.

    ``branch_channels``: the width of each branch. The released code gives every branch ``out`` channels; ours
    gives each ``out / (1 + len(kernels))`` (32 of 128, see :mod:`wssam.models.builder`), so the concatenation has
    about ``out``: the receptive fields are the method, not four full-width branches. At the stride-4 level of a
    ResNet-50 that cuts this module's forward from 31 to 5 GFLOP per 384 px image (a full-width merge conv alone
    reads 4 x 128 channels). ``relu_before_sum``: the released code's variant, which also applies ReLU at the end
    of every branch, after the merge and after the residual projection (before the sum).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 128,
        kernels: tuple[int, ...] = (3, 5, 7),
        *,
        branch_channels: int | None = None,
        relu_before_sum: bool = False,
    ) -> None:
        super().__init__()
        branch = out_channels if branch_channels is None else branch_channels
        branches: list[nn.Module] = [ConvBNReLU(in_channels, branch, 1)]
        for k in kernels:
            branches.append(
                nn.Sequential(
                    ConvBNReLU(in_channels, branch, 1),
                    ConvBNReLU(branch, branch, (1, k)),
                    ConvBNReLU(branch, branch, (k, 1)),
                    ConvBNReLU(branch, branch, 3, dilation=k, relu=relu_before_sum),
                )
            )
        self.branches = nn.ModuleList(branches)
        self.merge = ConvBNReLU(branch * len(branches), out_channels, 3, relu=relu_before_sum)
        self.residual = ConvBNReLU(in_channels, out_channels, 1, relu=relu_before_sum)

    def forward(self, x: Tensor) -> Tensor:
        merged = self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))
        return F.relu(merged + self.residual(x))


class ResidualChannelAttentionBlock(nn.Module):
    """RCAB: x + CA(conv3x3(relu(conv3x3(x)))). (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNReLU(channels, channels, 3), ConvBNReLU(channels, channels, 3, relu=False), ChannelAttention(channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)
