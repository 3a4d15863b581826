"""The ``predict`` section of params.yaml; the network and its input size come from the checkpoint."""

from __future__ import annotations

from pydantic import Field

from wssam.config import Config


class PredictConfig(Config):
    """``checkpoint``: the model checkpoint dvc.yaml hands to the stage (train's ``data/model/model.pt``, or any
    wssam or released WS-SAM checkpoint, e.g. the authors' trained model); ``batch_size``: images per forward pass."""

    checkpoint: str = Field(min_length=1)
    batch_size: int = Field(ge=1)
