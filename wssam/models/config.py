"""The network's configuration and its contract with the rest of the pipeline. Light: no torch.

Every network maps RGB images (B, 3, H, W) in [0, 1], H and W multiples of :data:`INPUT_MULTIPLE`, to a dict of
logits (B, 1, H, W), one per name in :data:`OUTPUT_NAMES` (coarse to fine); :data:`FINAL_OUTPUT` is the prediction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from wssam.config import Config

#: names of the five outputs, coarse to fine: the global prior, then the decoder from stride 32 to stride 4
OUTPUT_NAMES = ("prior", "p4", "p3", "p2", "p1")
#: the output whose sigmoid is the prediction
FINAL_OUTPUT = OUTPUT_NAMES[-1]
#: input sides must be multiples of the backbone's coarsest stride
INPUT_MULTIPLE = 32
MODEL_NAMES = ("wssam", "baseline", "released")
BACKBONE_NAMES = ("resnet18", "resnet50")
#: the released network's channel attention (RCAB) reduces the width by this factor: the width must reach it
RELEASED_ATTENTION_REDUCTION = 16


class ModelConfig(Config):
    """``train.model``: which network, on which backbone, with which starting weights, how wide.

    ``backbone_weights``: ``none`` (random initialisation), ``imagenet`` (torchvision's weights) or a path to a
    torchvision-format state dict. ``width``: channels of everything after the backbone (the paper: 128).
    ``grouping``: WS-SAM only; ``false`` drops the multi-scale feature grouping (the ablation).
    """

    name: Literal[MODEL_NAMES]
    backbone: Literal[BACKBONE_NAMES]
    backbone_weights: str = Field(min_length=1)
    width: int = Field(ge=8)
    grouping: bool

    @field_validator("width")
    @classmethod
    def _released_reduces_by_16(cls, width: int, info: ValidationInfo) -> int:
        if info.data.get("name") == "released" and width < RELEASED_ATTENTION_REDUCTION:
            raise ValueError(
                f"the released network's channel attention divides the width by {RELEASED_ATTENTION_REDUCTION}; "
                f"use {RELEASED_ATTENTION_REDUCTION} or more (the paper: 128)"
            )
        return width


def check_input_side(side: int, key: str) -> int:
    """``side`` if it is a positive multiple of :data:`INPUT_MULTIPLE`, else a ValueError naming ``key``."""
    if side <= 0 or side % INPUT_MULTIPLE:
        nearest = max(INPUT_MULTIPLE, round(side / INPUT_MULTIPLE) * INPUT_MULTIPLE)
        raise ValueError(f"{key} {side} must be a multiple of {INPUT_MULTIPLE} (e.g. {nearest})")
    return side
