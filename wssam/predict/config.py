"""The ``predict`` section of params.yaml; the network and its input size come from the checkpoint."""

from __future__ import annotations

from pydantic import Field

from wssam.config import Config


class PredictConfig(Config):
    """``batch_size``: images per forward pass."""

    batch_size: int = Field(ge=1)
