"""The network of the authors' released code, part by part, with the same function (``train.model.name: released``).

The authors' public code (ChunmingHe/WS-SAM, ``lib/Network.py``, the class its ``Train.py`` builds with 128 channels
on a ResNet-50) differs from our :class:`~wssam.models.wssam_net.WSSAMNet` in every part after the backbone:

- texture enhancement: a ReLU also ends every branch, the merge and the residual (before their sum);
- multi-scale feature grouping: slot attention with biased projections and embedding-initialised slots; each slot is
  copied to every pixel of the grid, positions are added, and a 1x1 convolution over all slots renders the map
  (ours mixes the slots by each pixel's assignment weights); the RK2 gate is computed from average- and max-pooling
  of BOTH groupings (ours: from the input map);
- cross-level fusion: the 3x3 merge of a level with the upper one is gated by CBAM (bias-free channel MLP), and a
  final 1x1 convolution mixes the gated map with the level itself; the gated map (not the output) goes up to the
  next level;
- global prior: pooled and dilated (6, 12, 18) branches, a 3x3 merge to twice the width, position attention, then a
  3x3 / BN / PReLU / dropout / 1x1 head;
- decoder: four independent stages, each predicting NEW logits (ours adds a residual to the previous ones) from the
  features re-weighted by the previous prediction and its complement (``f * p + f``), through RCABs without batch
  norm and with average-pooled channel attention. The first stage reads the prior after it was resized to the input.

All resizing follows the released code (``align_corners=True`` inside the network, ``False`` for the outputs). The
released code builds its grouping for a 12 x 12 grid, i.e. 384 x 384 inputs; here the position grid is built from
the actual grid, so any multiple of 32 runs, and at 384 the function is the released one (checked against outputs
the released code computed, ``../shared/fixtures/released-network``). Shapes: maps are (B, C, h, w).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wssam.models.backbone import ResNetBackbone
from wssam.models.blocks import ChannelAttention, ConvBNReLU, SpatialAttention, TextureEnhance, resize_to
from wssam.models.config import RELEASED_ATTENTION_REDUCTION
from wssam.models.grouping import position_grid
from wssam.models.network import SegmentationNetwork
from wssam.models.prior import PositionAttention

SLOT_EPS = 1e-8  # added to the slot-assignment weights before they are normalised over the tokens


def resize_aligned(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize with ``align_corners=True`` (the released code's choice inside the network)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


def released_position_grid(height: int, width: int, device: torch.device) -> Tensor:
    """The released code's 4-channel grid [y, x, 1 - y, 1 - x] (row first), float32 (height * width, 4).

    Computed in float64 and rounded once, as the released code builds it with NumPy.
    """
    grid = position_grid(height, width, device, torch.float64)  # [x, y, 1 - x, 1 - y]
    return grid[:, [1, 0, 3, 2]].float()


class ReleasedSlotAttention(nn.Module):
    """Slot attention as released: ``forward(tokens (B, N, D)) -> slots (B, S, D)``.

    Each iteration: softmax of the slot-token similarities over the SLOTS, plus :data:`SLOT_EPS`, normalised over the
    tokens; the weighted mean of the values updates each slot through a GRU, then a residual MLP.
    """

    def __init__(self, dim: int, num_slots: int, iterations: int) -> None:
        super().__init__()
        self.iterations, self.scale = iterations, dim**-0.5
        self.norm_tokens, self.norm_slots, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.slots_init = nn.Embedding(num_slots, dim)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def forward(self, tokens: Tensor) -> Tensor:
        batch, _, dim = tokens.shape
        tokens = self.norm_tokens(tokens)
        keys, values = self.to_k(tokens), self.to_v(tokens)
        slots = self.slots_init.weight.expand(batch, -1, -1)
        for _ in range(self.iterations):
            previous = slots
            queries = self.to_q(self.norm_slots(slots))
            attention = torch.softmax(torch.einsum("bsd,bnd->bsn", queries, keys) * self.scale, dim=1) + SLOT_EPS
            attention = attention / attention.sum(dim=-1, keepdim=True)
            updates = torch.einsum("bnd,bsn->bsd", values, attention)
            slots = self.gru(updates.reshape(-1, dim), previous.reshape(-1, dim)).reshape(batch, -1, dim)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots


class BroadcastSlotGrouping(nn.Module):
    """One grouping as released: (B, C, h, w) -> (B, C, h, w).

    Tokens = features + a projection of the position grid, then LayerNorm and an MLP; slot attention; every slot is
    copied to every pixel, a second projection of the grid is added, and a 1x1 convolution over the S slot maps
    (concatenated slot by slot) renders the grouped map.
    """

    def __init__(self, dim: int, num_slots: int, iterations: int) -> None:
        super().__init__()
        self.encode_position = nn.Linear(4, dim)
        self.norm = nn.LayerNorm(dim)
        self.encode = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        self.slot_attention = ReleasedSlotAttention(dim, num_slots, iterations)
        self.decode_position = nn.Linear(4, dim)
        self.render = nn.Conv2d(num_slots * dim, dim, 1)

    def forward(self, feature: Tensor) -> Tensor:
        batch, _, height, width = feature.shape
        grid = released_position_grid(height, width, feature.device).to(feature.dtype)
        tokens = feature.flatten(2).transpose(1, 2) + self.encode_position(grid)  # (B, h * w, C), row-major
        slots = self.slot_attention(self.encode(self.norm(tokens)))  # (B, S, C)
        pixels = slots[:, :, None, :] + self.decode_position(grid)  # (B, S, h * w, C)
        maps = pixels.permute(0, 1, 3, 2).reshape(batch, -1, height, width)  # (B, S * C, h, w), slot by slot
        return self.render(maps)


class PooledGate(nn.Module):
    """The RK2 step's weight as released: sigmoid(g(avgpool(x)) + g(maxpool(x))), g a bias-free 1x1 MLP.

    (B, C_in, h, w) -> (B, 1, 1, 1), in (0, 1).
    """

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.score = nn.Conv2d(hidden, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        avg = self.score(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1))))
        peak = self.score(F.relu(self.reduce(F.adaptive_max_pool2d(x, 1))))
        return torch.sigmoid(avg + peak)


class ReleasedGrouping(nn.Module):
    """Multi-scale feature grouping as released: G1 = grouping into 4 slots of F, G2 = grouping into 2 slots of
    F + G1, a = gate([G1, G2]); out = F + a * G1 + (1 - a) * G2. (B, C, h, w) -> (B, C, h, w)."""

    def __init__(self, dim: int, slots: tuple[int, int], iterations: int) -> None:
        super().__init__()
        self.first = BroadcastSlotGrouping(dim, slots[0], iterations)
        self.second = BroadcastSlotGrouping(dim, slots[1], iterations)
        self.gate = PooledGate(2 * dim, dim)

    def forward(self, feature: Tensor) -> Tensor:
        first = self.first(feature)
        second = self.second(first + feature)
        blend = self.gate(torch.cat([first, second], dim=1))
        return feature + first * blend + second * (1 - blend)


class ReleasedFusion(nn.Module):
    """Cross-level fusion as released: ``forward(level (B, C, h, w), upper (B, C, h', w'))`` ->
    (gated (B, C, h, w), fused (B, C, h, w)).

    gated = CBAM(conv3x3([level, up(upper)])); fused = conv1x1([gated, level]). The gated map is what the next
    (finer) level fuses with; the fused map is this level's output.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.merge = ConvBNReLU(2 * channels, channels, 3)
        self.channel_gate = ChannelAttention(channels, bias=False)
        self.spatial_gate = SpatialAttention()
        self.project = ConvBNReLU(2 * channels, channels, 1)

    def forward(self, level: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
        merged = self.merge(torch.cat([level, resize_aligned(upper, level.shape[-2:])], dim=1))
        gated = self.spatial_gate(self.channel_gate(merged))
        return gated, self.project(torch.cat([gated, level], dim=1))


class ReleasedPrior(nn.Module):
    """Global prior as released: (B, C_in, h, w) -> coarse logits (B, 1, h, w).

    Branches: global average pooling + 1x1, a 1x1, and 3x3 convolutions dilated by 6, 12, 18 (each to ``width``);
    concatenated, merged by a 3x3 to ``2 * width``, position attention, then 3x3 to ``width / 2``, BN, PReLU,
    dropout (p = 0.1, inactive in eval mode) and a 1x1 to one channel.
    """

    def __init__(self, in_channels: int, width: int, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        self.pooled = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(in_channels, width, 1))
        self.branches = nn.ModuleList(
            [ConvBNReLU(in_channels, width, 1)] + [ConvBNReLU(in_channels, width, 3, dilation=r) for r in rates]
        )
        self.merge = ConvBNReLU(width * (len(rates) + 2), 2 * width, 3)
        self.attention = PositionAttention(2 * width, reduction=4)
        self.head = nn.Sequential(
            nn.Conv2d(2 * width, width // 2, 3, padding=1),
            nn.BatchNorm2d(width // 2),
            nn.PReLU(),
            nn.Dropout2d(p=0.1),
            nn.Conv2d(width // 2, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        pooled = resize_aligned(self.pooled(x), x.shape[-2:])
        merged = self.merge(torch.cat([pooled, *(branch(x) for branch in self.branches)], dim=1))
        return self.head(self.attention(merged))


class ChannelScale(nn.Module):
    """Channel attention of the released RCAB: x * sigmoid(MLP(avgpool(x))), biased 1x1 MLP. Shape-preserving."""

    def __init__(self, channels: int, reduction: int = RELEASED_ATTENTION_REDUCTION) -> None:
        super().__init__()
        self.squeeze_excite = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.squeeze_excite(F.adaptive_avg_pool2d(x, 1))


class ReleasedRCAB(nn.Module):
    """Residual channel-attention block as released: x + CA(conv3x3(relu(conv3x3(x)))), biased convolutions, no
    batch norm. Shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            ChannelScale(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class ReleasedDecoderStage(nn.Module):
    """One decoder stage as released: ``forward(x (B, C, h, w), previous logits (B, 1, h', w'))`` -> new logits
    (B, 1, h, w).

    With p = sigmoid(previous) resized to (h, w): background = RCAB(x (1 - p) + x), foreground = RCAB(x p + x);
    their concatenation is merged by a 3x3 and a 3x3 head predicts the logits.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.background = ReleasedRCAB(channels)
        self.foreground = ReleasedRCAB(channels)
        self.merge = ConvBNReLU(2 * channels, channels, 3)
        self.head = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x: Tensor, previous: Tensor) -> Tensor:
        probability = torch.sigmoid(resize_aligned(previous, x.shape[-2:]))
        background = self.background(x * (1 - probability) + x)
        foreground = self.foreground(x * probability + x)
        return self.head(self.merge(torch.cat([background, foreground], dim=1)))


class ReleasedNet(SegmentationNetwork):
    """The released network, assembled from its parts (build it with :func:`wssam.models.builder.build_model`).

    Parts (as the parameter counts of ``python -m wssam.models summary`` name them): ``backbone``, ``texture`` (one
    per level), ``grouping`` (on the deepest level; ``nn.Identity()`` without grouping), ``fusion`` (levels 1..3,
    finest first), ``prior`` and ``decoder`` (levels 1..4, finest first).
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        texture: nn.ModuleList,
        grouping: nn.Module,
        fusion: nn.ModuleList,
        prior: ReleasedPrior,
        decoder: nn.ModuleList,
    ) -> None:
        super().__init__()
        self.backbone, self.texture, self.grouping = backbone, texture, grouping
        self.fusion, self.prior, self.decoder = fusion, prior, decoder

    def segment(self, images: Tensor) -> dict[str, Tensor]:
        """ImageNet-normalised ``images`` (B, 3, H, W) -> the five logits (B, 1, H, W), coarse to fine."""
        size = images.shape[-2:]
        stages = self.backbone(images)
        features = [module(x) for module, x in zip(self.texture, stages, strict=True)]
        features[-1] = self.grouping(features[-1])
        upper = features[-1]
        for level in range(len(features) - 2, -1, -1):
            upper, features[level] = self.fusion[level](features[level], upper)
        logits = resize_to(self.prior(stages[-1]), size)
        outputs = {"prior": logits}
        for level in range(len(features) - 1, -1, -1):
            logits = self.decoder[level](features[level], logits)
            outputs[f"p{level + 1}"] = resize_to(logits, size)
        return outputs


def build_released(
    backbone: ResNetBackbone, width: int, grouping: bool, slots: tuple[int, int], iterations: int
) -> ReleasedNet:
    """The released network on ``backbone`` at ``width`` channels (the released code: 128 on ResNet-50)."""
    return ReleasedNet(
        backbone=backbone,
        texture=nn.ModuleList(TextureEnhance(c, width, relu_before_sum=True) for c in backbone.channels),
        grouping=ReleasedGrouping(width, slots, iterations) if grouping else nn.Identity(),
        fusion=nn.ModuleList(ReleasedFusion(width) for _ in backbone.channels[:-1]),
        prior=ReleasedPrior(backbone.channels[-1], width),
        decoder=nn.ModuleList(ReleasedDecoderStage(width) for _ in backbone.channels),
    )
