"""The ``train`` section of params.yaml, typed and validated on construction.

A checkpoint stores :class:`TrainConfig` as a dict, so a resumed run can check it continues the same experiment;
the network's own part (:class:`~wssam.models.config.ModelConfig`) is stored on its own beside it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from wssam.config import Config, Precision
from wssam.models.config import INPUT_MULTIPLE, OUTPUT_NAMES, ModelConfig, check_input_side

NonNegative = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]


class LossConfig(Config):
    """``train.loss``: weights of the three terms and how the pseudo-label term is weighted per pixel.

    ``deep_supervision``: one weight per network output, in the order of ``OUTPUT_NAMES`` (prior, p4 .. p1).
    ``ignore_band``: ``[]`` or ``[lo, hi]``: pseudo labels strictly inside the band get weight 0 (the released
    code's rule, e.g. ``[0.3, 0.7]``). ``uncertainty_ramp``: ``whole_run`` (a cosine from 0 to 1 over the run) or
    ``released_per_epoch`` (the released code's ramp, restarted at every epoch).
    """

    pseudo_weight: float = Field(ge=0)
    partial_weight: float = Field(ge=0)
    uncertainty_weight: float = Field(ge=0)
    deep_supervision: tuple[NonNegative, ...]
    entropy_weighting: bool
    ignore_band: tuple[Probability, ...]
    uncertainty_ramp: Literal["whole_run", "released_per_epoch"]

    @field_validator("deep_supervision")
    @classmethod
    def _one_weight_per_output(cls, weights: tuple[float, ...]) -> tuple[float, ...]:
        if len(weights) != len(OUTPUT_NAMES):
            raise ValueError(f"needs {len(OUTPUT_NAMES)} weights, one per output {', '.join(OUTPUT_NAMES)}")
        return weights

    @field_validator("ignore_band")
    @classmethod
    def _empty_or_ordered_pair(cls, band: tuple[float, ...]) -> tuple[float, ...]:
        if band and (len(band) != 2 or not band[0] < band[1]):
            raise ValueError("must be [] or [lo, hi] with lo < hi")
        return band


FactorRange = Annotated[tuple[NonNegative, NonNegative], Field(description="[low, high], low <= high")]


class AugmentConfig(Config):
    """``train.augment``: one random geometry for image, pseudo label, weights and sparse labels; colour on the image,
    noise on the pseudo label. The released code's values in brackets: hflip 0.5, rotation 0.2 within 15 degrees,
    crop centred (up to 30 px off), brightness and contrast [0.5, 1.5], saturation [0, 2], sharpness [0, 3],
    label noise 0.0015."""

    hflip: float = Field(ge=0, le=1)
    rotation_probability: float = Field(ge=0, le=1)
    rotation_degrees: float = Field(ge=0, le=180)
    crop: Literal["random", "centred"]
    crop_scale: float = Field(gt=0, le=1)
    crop_border: int = Field(ge=1)  # centred: each side loses 1 to crop_border px (for none: random, crop_scale 1)
    brightness: FactorRange
    contrast: FactorRange
    saturation: FactorRange
    sharpness: FactorRange
    label_noise: float = Field(ge=0, lt=1)

    @field_validator("brightness", "contrast", "saturation", "sharpness")
    @classmethod
    def _ordered(cls, factors: tuple[float, float]) -> tuple[float, float]:
        if factors[0] > factors[1]:
            raise ValueError("must be [low, high] with low <= high")
        return factors


#: networks with a batch norm after global pooling, which cannot train on a batch of one image
PAIRED_BATCH_NETWORKS = ("released",)


def one_image_batch_problem(network: str, image_size: int) -> str | None:
    """Why ``network`` at ``image_size`` cannot train on a batch of one image, or None where it can: a batch norm that
    sees one value per channel of each image, after global pooling (:data:`PAIRED_BATCH_NETWORKS`) or, in every
    network at a 32 px input, at the stride-32 level, whose features are 1 x 1."""
    if network in PAIRED_BATCH_NETWORKS:
        return f"the {network} network's batch norm after global pooling cannot train on one image"
    if image_size <= INPUT_MULTIPLE:
        return (f"at train.image_size {image_size} the stride-32 features are 1 x 1: "
                "batch norm cannot train on one image")  # fmt: skip
    return None


class TrainConfig(Config):
    """The ``train`` section: the network (``model``) and the whole training recipe.

    ``lr_schedule``: ``cosine`` (from ``lr`` to ``min_lr`` over the run, step by step) or ``released_t40`` (the
    released code's per-epoch cosine with a 40-epoch period). ``ema_decay``: the weights validated and kept are an
    exponential moving average of the trained ones (:mod:`wssam.train.ema`; 0: the trained ones).
    ``val_fraction`` 0: train on every kept image and keep the last epoch (the paper's setting).
    """

    model: ModelConfig
    seed: int = Field(ge=0)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    image_size: int
    lr: float = Field(gt=0)
    min_lr: float = Field(ge=0)
    lr_schedule: Literal["cosine", "released_t40"]
    grad_clip: float = Field(ge=0)
    ema_decay: float = Field(ge=0, lt=1)
    val_fraction: float = Field(ge=0, lt=1)
    precision: Precision
    loss: LossConfig
    augment: AugmentConfig

    @field_validator("batch_size")
    @classmethod
    def _two_for_a_batch_norm_after_pooling(cls, batch_size: int, info: ValidationInfo) -> int:
        model = info.data.get("model")
        if model is not None and model.name in PAIRED_BATCH_NETWORKS and batch_size < 2:
            raise ValueError(f"{one_image_batch_problem(model.name, INPUT_MULTIPLE)}; use 2 or more")
        return batch_size

    @field_validator("image_size")
    @classmethod
    def _multiple_of_the_stride(cls, side: int, info: ValidationInfo) -> int:
        check_input_side(side, "training input side")
        model, batch_size = info.data.get("model"), info.data.get("batch_size")
        problem = one_image_batch_problem(model.name, side) if model is not None and batch_size == 1 else None
        if problem is not None:
            raise ValueError(f"{problem}; use 64 or more, or train.batch_size 2")
        return side

    @field_validator("min_lr")
    @classmethod
    def _not_above_lr(cls, min_lr: float, info: ValidationInfo) -> float:
        lr = info.data.get("lr")
        if lr is not None and min_lr > lr:
            raise ValueError(f"must not exceed train.lr = {lr}")
        return min_lr
