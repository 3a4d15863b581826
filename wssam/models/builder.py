"""One builder for every segmentation network: a small registry writes the hyper-parameters.

``build_model(config)`` assembles the network named by a :class:`~wssam.models.config.ModelConfig` from its parts
(backbone, texture enhancement, fusion, grouping, prior, decoder) the way segment-anything's ``build_sam`` does;
ablations are arguments, never copied classes.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from wssam.models.backbone import build_backbone
from wssam.models.baseline import BaselineNet
from wssam.models.blocks import TextureEnhance
from wssam.models.config import ModelConfig
from wssam.models.decoder import CrossLevelFusion, PriorGuidedDecoder
from wssam.models.grouping import MultiScaleFeatureGrouping
from wssam.models.network import SegmentationNetwork
from wssam.models.prior import GlobalPrior
from wssam.models.released import build_released
from wssam.models.wssam_net import WSSAMNet

#: texture-enhancement branch kernels k (1xk, kx1, 3x3 dilated by k)
TEXTURE_KERNELS = (3, 5, 7)
#: slots of the first (coarse) and second (fine) grouping, and slot-attention iterations
GROUPING_SLOTS = (4, 2)
GROUPING_ITERATIONS = 3
#: residual channel-attention blocks per foreground / background stream of each decoder stage
DECODER_BLOCKS = 1


def count_parameters_millions(model: nn.Module) -> float:
    """Number of parameters of ``model`` (trainable or not), in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def texture_branch_channels(width: int) -> int:
    """Channels of each texture-enhancement branch of our network: the ``1 + len(TEXTURE_KERNELS)`` branches
    share ``width`` (32 each at width 128), where the released code gives every branch the full width."""
    return max(width // (1 + len(TEXTURE_KERNELS)), 1)


def _build_wssam(config: ModelConfig) -> SegmentationNetwork:
    trunk = build_backbone(config.backbone, config.backbone_weights)
    width = config.width
    return WSSAMNet(
        backbone=trunk,
        enhance=nn.ModuleList(
            TextureEnhance(c, width, TEXTURE_KERNELS, branch_channels=texture_branch_channels(width))
            for c in trunk.channels
        ),
        grouping=MultiScaleFeatureGrouping(width, GROUPING_SLOTS, GROUPING_ITERATIONS)
        if config.grouping
        else nn.Identity(),
        fusion=CrossLevelFusion(width),
        prior=GlobalPrior(trunk.channels[-1], width),
        decoder=PriorGuidedDecoder(width, DECODER_BLOCKS),
    )


def _build_baseline(config: ModelConfig) -> SegmentationNetwork:
    return BaselineNet(build_backbone(config.backbone, config.backbone_weights), width=config.width)


def _build_released(config: ModelConfig) -> SegmentationNetwork:
    trunk = build_backbone(config.backbone, config.backbone_weights)
    return build_released(trunk, config.width, config.grouping, GROUPING_SLOTS, GROUPING_ITERATIONS)


#: ``train.model.name`` -> builder: ours, the baseline without grouping (``grouping`` does not apply to it), and the
#: released code's network (:mod:`wssam.models.released`)
MODEL_REGISTRY: dict[str, Callable[[ModelConfig], SegmentationNetwork]] = {
    "wssam": _build_wssam,
    "baseline": _build_baseline,
    "released": _build_released,
}


def build_model(config: ModelConfig) -> SegmentationNetwork:
    """Build the network of ``config`` (validated on construction: name, backbone, width >= 8).

    Returns a module mapping RGB images (B, 3, H, W) in [0, 1] to ``{name: logits (B, 1, H, W)}`` for every name
    in :data:`~wssam.models.config.OUTPUT_NAMES`. A bad backbone weights file is an :class:`wssam.io.InputError`.
    """
    return MODEL_REGISTRY[config.name](config)
