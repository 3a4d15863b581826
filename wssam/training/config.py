"""Typed configuration of the ``train`` and ``predict`` stages (sections ``train:`` and ``predict:`` of params.yaml).

A checkpoint stores ``dataclasses.asdict(TrainConfig)`` so that prediction can rebuild the network without
params.yaml, and so that a resumed run can check it continues the same experiment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from wssam.config import bounds, choices, from_mapping
from wssam.io import InputError
from wssam.models import OUTPUT_NAMES

DEEP_SUPERVISION_DEFAULT = (0.0625, 0.125, 0.25, 0.5, 1.0)
SIZE_MULTIPLE = 32  # the networks downsample by 32: input sides must be multiples of it


@dataclass(frozen=True)
class LossConfig:
    """Weights of the three loss terms and how the pseudo-label term is weighted per pixel."""

    pseudo_weight: float = field(default=1.0, metadata=bounds(ge=0))
    partial_weight: float = field(default=3.0, metadata=bounds(ge=0))
    uncertainty_weight: float = field(default=2.0, metadata=bounds(ge=0))
    deep_supervision: tuple[float, ...] = field(default=DEEP_SUPERVISION_DEFAULT, metadata=bounds(ge=0))
    entropy_weighting: bool = True
    ignore_band: tuple[float, ...] = field(default=(), metadata=bounds(ge=0, le=1))


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation applied identically to image, pseudo label, weight map and scribble map."""

    hflip: float = field(default=0.5, metadata=bounds(ge=0, le=1))
    crop_scale: float = field(default=0.8, metadata=bounds(gt=0, le=1))
    rotation_degrees: float = field(default=10.0, metadata=bounds(ge=0, le=180))
    color_jitter: float = field(default=0.1, metadata=bounds(ge=0, lt=1))


@dataclass(frozen=True)
class TrainConfig:
    """The whole training recipe (paper: resnet50, imagenet, batch 36, 384 px, 160 epochs)."""

    model: str = field(default="wssam", metadata=choices("wssam", "baseline"))
    backbone: str = field(default="resnet18", metadata=choices("resnet18", "resnet50"))
    backbone_weights: str = "none"
    grouping: bool = True
    width: int = field(default=0, metadata=bounds(ge=0))
    seed: int = field(default=0, metadata=bounds(ge=0))
    epochs: int = field(default=12, metadata=bounds(ge=1))
    batch_size: int = field(default=8, metadata=bounds(ge=1))
    image_size: int = field(default=128, metadata=bounds(ge=SIZE_MULTIPLE))
    lr: float = field(default=1e-4, metadata=bounds(gt=0))
    min_lr: float = field(default=1e-6, metadata=bounds(ge=0))
    grad_clip: float = field(default=0.5, metadata=bounds(ge=0))
    val_fraction: float = field(default=0.15, metadata=bounds(ge=0, lt=1))
    bf16: bool = False
    resume: bool = True
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class PredictConfig:
    """Inference settings; the network and its input size come from the checkpoint."""

    batch_size: int = field(default=8, metadata=bounds(ge=1))


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from ``dataclasses.asdict`` output (as stored in a checkpoint)."""
    return from_mapping(TrainConfig, _lists(data), "checkpoint.config")


def train_config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain, picklable mapping of ``config`` (tuples kept as lists so it survives JSON too)."""
    return _lists(dataclasses.asdict(config))


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def check_train_config(config: TrainConfig) -> TrainConfig:
    """Cross-field checks ``load_section`` cannot express; an :class:`InputError` names the key."""
    if config.image_size % SIZE_MULTIPLE:
        raise InputError(
            f"parameter 'train.image_size' = {config.image_size} must be a multiple of {SIZE_MULTIPLE}"
            f" (e.g. {max(SIZE_MULTIPLE, round(config.image_size / SIZE_MULTIPLE) * SIZE_MULTIPLE)})"
        )
    if config.min_lr > config.lr:
        raise InputError(f"parameter 'train.min_lr' = {config.min_lr} must not exceed 'train.lr' = {config.lr}")
    if len(config.loss.deep_supervision) != len(OUTPUT_NAMES):
        raise InputError(
            f"parameter 'train.loss.deep_supervision' needs {len(OUTPUT_NAMES)} weights, one per output"
            f" {', '.join(OUTPUT_NAMES)}; got {len(config.loss.deep_supervision)}"
        )
    band = config.loss.ignore_band
    if band and (len(band) != 2 or not band[0] < band[1]):
        raise InputError(f"parameter 'train.loss.ignore_band' must be [] or [lo, hi] with lo < hi, got {list(band)}")
    return config
