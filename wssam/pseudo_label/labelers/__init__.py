"""Labelers give each training image a foreground map per view (see :mod:`.base`).

:func:`build_labeler` picks one by ``pseudo_label.labeler``: ``random_walker`` (no weights), ``sam`` (an official
segment-anything checkpoint read from the labeler's folder) or ``folder`` (maps made elsewhere, read by image name
from the labeler's folder). The SAM module, and with it torch, is imported only when chosen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.base import Labeler, PromptLabeler
from wssam.pseudo_label.labelers.folder import FolderLabeler
from wssam.pseudo_label.labelers.random_walker import RandomWalkerLabeler


def build_labeler(
    config: PseudoLabelConfig, labeler_dir: str | os.PathLike[str], *, sam_builder: Any = None
) -> Labeler:
    """The labeler named by ``config.labeler``, reading its files (SAM: the checkpoint) from ``labeler_dir``.

    ``sam_builder`` replaces the registry's SAM model (tests: a tiny SAM from segment-anything's parts).
    """
    if config.labeler == "sam":
        from wssam.pseudo_label.labelers.sam import SamLabeler

        return SamLabeler.from_config(config.sam, labeler_dir, builder=sam_builder)
    if config.labeler == "folder":
        return FolderLabeler(Path(labeler_dir) / config.folder.masks)
    return RandomWalkerLabeler(config.random_walker)


__all__ = ["Labeler", "PromptLabeler", "build_labeler"]
