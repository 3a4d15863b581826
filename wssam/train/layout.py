"""The files the ``train`` stage writes into its output folder, named once for it and for the stages reading them.

``model.pt``: the best epoch's model checkpoint (read by ``predict``; see :mod:`wssam.models.checkpoint`);
``last.pt``: the end of the last finished epoch, with the optimiser and run state (read by ``train`` to resume;
see :mod:`wssam.train.run_state`).
"""

from __future__ import annotations

import os
from pathlib import Path

BEST_NAME = "model.pt"
LAST_NAME = "last.pt"


def best_checkpoint(output_dir: str | os.PathLike[str]) -> Path:
    """The best epoch's model checkpoint."""
    return Path(output_dir) / BEST_NAME


def last_checkpoint(output_dir: str | os.PathLike[str]) -> Path:
    """The resume point."""
    return Path(output_dir) / LAST_NAME
