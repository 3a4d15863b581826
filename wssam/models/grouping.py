"""Multi-scale feature grouping (MFG): slot attention on the deepest feature map, at two granularities.

Shapes: a feature map is (B, C, h, w); flattened it is (B, N, C) with N = h * w tokens in row-major order.
The positional embedding is built from the actual (h, w) at run time, so any input size that is a multiple of 32
works (the released WS-SAM code hard-codes a 12x12 grid, i.e. only 384x384 inputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def position_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The 4-channel grid [x, y, 1 - x, 1 - y] with x (column) and y (row) in [0, 1]: shape (height * width, 4).

    Row-major order, matching ``feature.flatten(2)``; a 1-pixel side gives coordinate 0.
    """
    ys = torch.linspace(0.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(0.0, 1.0, width, device=device, dtype=dtype)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([x, y, 1.0 - x, 1.0 - y], dim=-1)
    return grid.reshape(height * width, 4)


class SoftPositionEmbedding(nn.Module):
    """Adds a linear projection of :func:`position_grid` to a feature map: (B, C, h, w) -> (B, N, C) tokens."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(4, dim)

    def forward(self, feature: Tensor) -> Tensor:
        _, _, height, width = feature.shape
        grid = position_grid(height, width, feature.device, feature.dtype)
        return feature.flatten(2).transpose(1, 2) + self.project(grid)


class SlotAttention(nn.Module):
    """Slot attention (Locatello et al. 2020) with learned slot initialisations.

    ``forward(tokens)``: tokens (B, N, D) -> (slots (B, S, D), attention (B, N, S)); the attention of each token is a
    softmax over the S slots (the slot-to-pixel assignment of the last iteration).
    """

    def __init__(self, num_slots: int, dim: int, iterations: int = 3, hidden: int | None = None) -> None:
        super().__init__()
        self.num_slots, self.iterations, self.scale = num_slots, iterations, dim**-0.5
        self.slots_init = nn.Parameter(torch.randn(1, num_slots, dim) * dim**-0.5)
        self.norm_tokens, self.norm_slots, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(dim, dim)
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        batch, _, dim = tokens.shape
        tokens = self.norm_tokens(tokens)
        keys, values = self.to_k(tokens), self.to_v(tokens)
        slots = self.slots_init.expand(batch, -1, -1)
        attention = tokens.new_zeros(0)
        for _ in range(self.iterations):
            previous = slots
            queries = self.to_q(self.norm_slots(slots))
            attention = torch.softmax(torch.einsum("bnd,bsd->bns", keys, queries) * self.scale, dim=-1)
            weights = attention / (attention.sum(dim=1, keepdim=True) + 1e-8)  # weighted mean over tokens
            updates = torch.einsum("bns,bnd->bsd", weights, values)
            slots = self.gru(updates.reshape(-1, dim), previous.reshape(-1, dim)).reshape(batch, -1, dim)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attention


class FeatureGrouping(nn.Module):
    """Groups a feature map into ``num_slots`` slots and renders them back as a map.

    (B, C, h, w) -> (B, C, h, w): tokens = features + position embedding, passed through a small MLP; slot attention;
    each pixel's feature is its slot-assignment weights times the slot features, linearly projected.
    """

    def __init__(self, dim: int, num_slots: int, iterations: int = 3) -> None:
        super().__init__()
        self.position = SoftPositionEmbedding(dim)
        self.encode = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.slot_attention = SlotAttention(num_slots, dim, iterations)
        self.render = nn.Linear(dim, dim)

    def forward(self, feature: Tensor) -> Tensor:
        batch, channels, height, width = feature.shape
        tokens = self.encode(self.position(feature))
        slots, attention = self.slot_attention(tokens)
        pixels = self.render(torch.einsum("bns,bsd->bnd", attention, slots))
        return pixels.transpose(1, 2).reshape(batch, channels, height, width)


class MultiScaleFeatureGrouping(nn.Module):
    """MFG: out = F + a * G_coarse(F) + (1 - a) * G_fine(F + G_coarse(F)), a = sigmoid(MLP(avgpool(F))) per image.

    (B, C, h, w) -> (B, C, h, w). With the paper's settings the first grouping has 4 slots, the second 2; the blend
    a in (0, 1) is an RK2-like step between the two groupings.
    """

    def __init__(self, dim: int, slots: tuple[int, int] = (4, 2), iterations: int = 3) -> None:
        super().__init__()
        self.first = FeatureGrouping(dim, slots[0], iterations)
        self.second = FeatureGrouping(dim, slots[1], iterations)
        self.gate = nn.Sequential(nn.Linear(dim, dim // 4), nn.ReLU(inplace=True), nn.Linear(dim // 4, 1))

    def forward(self, feature: Tensor) -> Tensor:
        first = self.first(feature)
        second = self.second(feature + first)
        blend = torch.sigmoid(self.gate(F.adaptive_avg_pool2d(feature, 1).flatten(1)))[:, :, None, None]
        return feature + blend * first + (1.0 - blend) * second
