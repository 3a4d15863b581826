"""The "no feature grouping" baseline: a plain FPN-like top-down decoder over the backbone's four stages.

It returns the same five named outputs as the WS-SAM network so both train with the same deep supervision:
``prior`` is a coarse prediction from the deepest level alone, ``p4`` .. ``p1`` are side outputs of the
top-down decoder from the deepest (stride 32) to the finest (stride 4) level; ``p1`` is the prediction.
"""

from __future__ import annotations

from torch import Tensor, nn

from wssam.models.backbone import ResNetBackbone
from wssam.models.blocks import ConvBNReLU, resize_to
from wssam.models.network import SegmentationNetwork


class BaselineNet(SegmentationNetwork):
    """Backbone + 1x1 lateral convs to ``width`` channels + top-down (upsample, add, 3x3 conv) + 1x1 heads.

    ``forward(images)``: RGB images (B, 3, H, W) in [0, 1], H and W multiples of 32 ->
    ``{"prior", "p4", "p3", "p2", "p1"}``, each logits (B, 1, H, W).
    """

    def __init__(self, backbone: ResNetBackbone, width: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.laterals = nn.ModuleList(ConvBNReLU(c, width, 1) for c in backbone.channels)
        self.smooth = nn.ModuleList(ConvBNReLU(width, width, 3) for _ in backbone.channels)
        self.prior_head = nn.Conv2d(width, 1, 1)
        self.heads = nn.ModuleList(nn.Conv2d(width, 1, 1) for _ in backbone.channels)

    def segment(self, images: Tensor) -> dict[str, Tensor]:
        size = images.shape[-2:]
        laterals = [lateral(x) for lateral, x in zip(self.laterals, self.backbone(images), strict=True)]
        outputs = {"prior": resize_to(self.prior_head(laterals[-1]), size)}
        top: Tensor | None = None
        for level in (4, 3, 2, 1):
            x = laterals[level - 1]
            if top is not None:
                x = x + resize_to(top, x.shape[-2:])
            top = self.smooth[level - 1](x)
            outputs[f"p{level}"] = resize_to(self.heads[level - 1](top), size)
        return outputs
