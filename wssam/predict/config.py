"""The ``predict`` section of params.yaml; the network and its input size come from the checkpoint."""

from __future__ import annotations

from pydantic import Field

from wssam.config import CommandPath, Config


class PredictConfig(Config):
    """``checkpoint``: the model checkpoint dvc.yaml hands to the stage (train's ``data/model/model.pt``, or any
    wssam or released WS-SAM checkpoint, e.g. the authors' trained model); ``batch_size``: images per forward pass."""

    checkpoint: CommandPath
    batch_size: int = Field(ge=1)
