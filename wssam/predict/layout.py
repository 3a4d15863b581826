"""Where ``predict`` writes a test set's maps, named once for it and for the report that reads them:
``<predictions>/<name>.png``, one 8-bit map per image, at the image's size (the layout the toolboxes read)."""

from __future__ import annotations

import os
from pathlib import Path


def prediction_file(predictions: str | os.PathLike[str], name: str) -> Path:
    """The map of image ``name`` in a test set's prediction folder."""
    return Path(predictions) / f"{name}.png"
