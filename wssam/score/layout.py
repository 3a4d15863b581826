"""The layout of the ``score`` stage's output folder, shared by the stage that writes it and ``train`` that reads it.

``<scored>/labels/<name>.png`` (fused pseudo label), ``<scored>/weights/<name>.png`` (pixel weights),
``<scored>/selection.csv`` (one row per image, with the ``kept`` flag) and, where the images have GT,
``<scored>/views.csv`` (each view's mean IoU).
"""

from __future__ import annotations

import os
from pathlib import Path

SELECTION_FILE = "selection.csv"
VIEWS_FILE = "views.csv"
LABELS_DIR = "labels"
WEIGHTS_DIR = "weights"


def label_path(scored_dir: str | os.PathLike[str], name: str) -> Path:
    """The fused pseudo label of image ``name``: 8-bit probability PNG at the image's size."""
    return Path(scored_dir) / LABELS_DIR / f"{name}.png"


def weight_path(scored_dir: str | os.PathLike[str], name: str) -> Path:
    """The pixel-weight map of image ``name``: 8-bit PNG of 1 - H(p) at the image's size."""
    return Path(scored_dir) / WEIGHTS_DIR / f"{name}.png"
