"""Small building blocks shared by the networks: conv units, attention, texture enhancement, size helpers.

All maps are ``float`` tensors (B, C, H, W); every block keeps H and W unless its docstring says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: inputs must be divisible by the backbone's coarsest stride
INPUT_MULTIPLE = 32


def check_image_size(images: Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is (B, 3, H, W) with H and W positive multiples of 32."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height % INPUT_MULTIPLE or width % INPUT_MULTIPLE or height == 0 or width == 0:
        raise ValueError(
            f"image size {height}x{width} is not a multiple of {INPUT_MULTIPLE}; resize or pad the input "
            f"(e.g. to {max(INPUT_MULTIPLE, round(height / INPUT_MULTIPLE) * INPUT_MULTIPLE)})"
        )


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
