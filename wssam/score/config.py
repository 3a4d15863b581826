"""The ``score`` section of params.yaml: how the images kept for training are selected."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wssam.config import Config
from wssam.score.selection import SELECTION_RULES


class ScoreConfig(Config):
    """``selection``: ``tau`` (keep mean entropy <= ``tau`` bits) or ``fraction`` (the ``keep_fraction`` most
    certain images)."""

    selection: Literal[SELECTION_RULES]
    tau: float = Field(ge=0, le=1)
    keep_fraction: float = Field(gt=0, le=1)
