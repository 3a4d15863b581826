"""The WS-SAM segmentation network, assembled from parts it receives in its constructor.

backbone -> per-level texture enhancement -> multi-scale feature grouping on the deepest level (or identity, the
ablation) -> top-down cross-level fusion -> global prior on the deepest backbone stage -> prior-guided decoder.
"""

from __future__ import annotations

from torch import Tensor, nn

from wssam.models.backbone import ResNetBackbone
from wssam.models.blocks import resize_to
from wssam.models.decoder import CrossLevelFusion, PriorGuidedDecoder
from wssam.models.network import SegmentationNetwork
from wssam.models.prior import GlobalPrior


class WSSAMNet(SegmentationNetwork):
    """WS-SAM network. Build it with :func:`wssam.models.builder.build_model`; the parts come in ready-made.

    Args:
        backbone: four stages at strides 4, 8, 16, 32.
        enhance: one module per level mapping the backbone's channels to the common width.
        grouping: applied to the enhanced deepest (stride 32) map, shape-preserving; ``nn.Identity()`` for the
            "no grouping" ablation.
        fusion: top-down fusion of the four enhanced maps.
        prior: global prior on the deepest backbone stage, returning (features, coarse logits).
        decoder: prior-guided decoder returning logits ``p4`` .. ``p1``.
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        enhance: nn.ModuleList,
        grouping: nn.Module,
        fusion: CrossLevelFusion,
        prior: GlobalPrior,
        decoder: PriorGuidedDecoder,
    ) -> None:
        super().__init__()
        self.backbone, self.enhance, self.grouping = backbone, enhance, grouping
        self.fusion, self.prior, self.decoder = fusion, prior, decoder

    def segment(self, images: Tensor) -> dict[str, Tensor]:
        """Segment ImageNet-normalised ``images`` (B, 3, H, W) (call the module itself with [0, 1] images).

        Returns:
            ``{"prior", "p4", "p3", "p2", "p1"}`` (coarse to fine), each logits (B, 1, H, W) at the input size;
            ``sigmoid(p1)`` is the foreground probability.
        """
        stages = self.backbone(images)
        enhanced = [module(x) for module, x in zip(self.enhance, stages, strict=True)]
        enhanced[-1] = self.grouping(enhanced[-1])
        fused = self.fusion(enhanced)
        prior_features, prior_logits = self.prior(stages[-1])
        outputs = {"prior": prior_logits, **self.decoder(fused, prior_features, prior_logits)}
        return {name: resize_to(logits, images.shape[-2:]) for name, logits in outputs.items()}
