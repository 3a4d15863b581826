"""One builder for every segmentation network: a small registry writes the hyper-parameters.

``build_model(name, backbone=..., backbone_weights=..., grouping=..., width=...)`` assembles the network
from its parts (backbone, texture enhancement, fusion, grouping, prior, decoder) the way segment-anything's
``build_sam`` does; ablations are arguments, never copied classes.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from wssam.models.backbone import build_backbone
from wssam.models.baseline import BaselineNet
from wssam.models.blocks import TextureEnhance
from wssam.models.decoder import CrossLevelFusion, PriorGuidedDecoder
from wssam.models.grouping import MultiScaleFeatureGrouping
from wssam.models.prior import GlobalPrior
from wssam.models.wssam_net import WSSAMNet

#: names of the five outputs, coarse to fine; every network returns all of them and ``p1`` is the prediction
OUTPUT_NAMES = ("prior", "p4", "p3", "p2", "p1")


def count_parameters_millions(model: nn.Module) -> float:
    """Number of parameters of ``model`` (trainable or not), in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


#: paper-size feature width of the heads (texture enhancement output, grouping, fusion, prior, decoder)
PAPER_WIDTH = 128
#: texture-enhancement branch kernels k (1xk, kx1, 3x3 dilated by k)
TEXTURE_KERNELS = (3, 5, 7)
#: slots of the first (coarse) and second (fine) grouping, and slot-attention iterations
GROUPING_SLOTS = (4, 2)
GROUPING_ITERATIONS = 3
#: residual channel-attention blocks per foreground / background stream of each decoder stage
DECODER_BLOCKS = 2


def _build_wssam(backbone: str, backbone_weights: str, grouping: bool, width: int | None) -> nn.Module:
    width = width or PAPER_WIDTH
    trunk = build_backbone(backbone, backbone_weights)
    return WSSAMNet(
        backbone=trunk,
        enhance=nn.ModuleList(TextureEnhance(c, width, TEXTURE_KERNELS) for c in trunk.channels),
        grouping=MultiScaleFeatureGrouping(width, GROUPING_SLOTS, GROUPING_ITERATIONS) if grouping else nn.Identity(),
        fusion=CrossLevelFusion(width),
        prior=GlobalPrior(trunk.channels[-1], width),
        decoder=PriorGuidedDecoder(width, DECODER_BLOCKS),
    )


def _build_baseline(backbone: str, backbone_weights: str, grouping: bool, width: int | None) -> nn.Module:
    del grouping  # the baseline has no grouping module
    return BaselineNet(build_backbone(backbone, backbone_weights), width=width or PAPER_WIDTH)


#: model name -> builder(backbone, backbone_weights, grouping, width)
MODEL_REGISTRY: dict[str, Callable[[str, str, bool, int | None], nn.Module]] = {
    "wssam": _build_wssam,
    "baseline": _build_baseline,
}


def build_model(
    name: str,
    *,
    backbone: str = "resnet50",
    backbone_weights: str = "none",
    grouping: bool = True,
    width: int | None = None,
) -> nn.Module:
    """Build the network ``name`` (``"wssam"`` | ``"baseline"``).

    Args:
        backbone: ``"resnet18"`` | ``"resnet50"``.
        backbone_weights: ``"none"`` | ``"imagenet"`` | path to a torchvision-format ResNet state dict.
        grouping: WS-SAM only; ``False`` drops the multi-scale feature grouping (the ablation).
        width: feature channels of everything after the backbone; ``None`` gives the paper size (128);
            a smaller width (e.g. 64) makes quick CPU demos cheaper.

    Returns a module mapping images (B, 3, H, W) to ``{name: logits (B, 1, H, W)}`` for every name in
    ``OUTPUT_NAMES``. Raises ``ValueError`` for an unknown name or backbone and
    :class:`wssam.io.InputError` for a bad weights file.
    """
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODEL_REGISTRY)}")
    if width is not None and width < 8:
        raise ValueError(f"width must be at least 8, got {width}")
    return MODEL_REGISTRY[name](backbone, backbone_weights, grouping, width)
