"""The ``report`` section of params.yaml: how many images the galleries show."""

from __future__ import annotations

from pydantic import Field

from wssam.config import Config


class ReportConfig(Config):
    """``train_gallery``: training images shown (the first by name, so runs compare); ``test_extremes``: best and
    worst test images by S-measure shown per test set."""

    train_gallery: int = Field(ge=1, le=50)
    test_extremes: int = Field(ge=1, le=20)
