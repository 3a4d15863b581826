"""The ``prepare`` section of params.yaml: which datasets to prepare and how to simulate missing sparse labels."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from wssam.config import Config
from wssam.labels import SPARSE_KINDS
from wssam.prepare.layout import TRAIN_DIR

SYNTHETIC = "synthetic"
#: a test set's name: a folder, a stage (``predict@NAME``) and a key that ``dvc exp run -S`` and the recipes set
#: (Hydra reads a dot as nesting and wants a letter or ``_`` first)
SET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

Source = Annotated[str, Field(min_length=1, description="'synthetic' (the embedded demo) or a dataset folder")]


class TrainSourceConfig(Config):
    """``prepare.train``: ``source`` is ``synthetic`` or a dataset folder (relative to the project root)."""

    source: Source


class SparseConfig(Config):
    """``prepare.sparse``: how sparse labels are simulated from GT where a training set has none."""

    kind: Literal[SPARSE_KINDS]
    points_per_class: int = Field(ge=1)
    stroke_width: int = Field(ge=1)

    @field_validator("stroke_width")
    @classmethod
    def _odd_width(cls, width: int) -> int:
        """A stroke is its one-pixel centre line widened equally on both sides, so its width is odd."""
        if width % 2 == 0:
            raise ValueError(
                f"{width} is even: a stroke is its centre line widened equally on both sides, so its width is odd "
                f"(1, 3, 5, ...); use {width - 1} or {width + 1}"
            )
        return width


class SyntheticConfig(Config):
    """``prepare.synthetic``: the embedded demo, square images of ``image_size`` pixels."""

    image_size: int = Field(ge=32)
    train_images: int = Field(ge=1)
    test_images: int = Field(ge=1)
    two_object_fraction: float = Field(ge=0, le=1)


class PrepareConfig(Config):
    """The ``prepare`` section. ``test_sets`` maps a set name (one predict/evaluate stage each) to its source."""

    seed: int = Field(ge=0)
    max_images: int = Field(ge=0)
    train: TrainSourceConfig
    test_sets: dict[str, Source] = Field(min_length=1)
    sparse: SparseConfig
    synthetic: SyntheticConfig

    @field_validator("test_sets")
    @classmethod
    def _set_names(cls, sets: dict[str, str]) -> dict[str, str]:
        for name in sets:
            if not SET_NAME.match(name):
                raise ValueError(
                    f"set name {name!r} may hold only letters, digits, '_' and '-', and starts with a letter or '_' "
                    "(dvc exp run -S reads a dot as nesting)"
                )
            if name == TRAIN_DIR:
                raise ValueError(
                    f"set name {name!r} is the training set's (a synthetic test set of that name would be its copy); "
                    "choose another name"
                )
        return sets
