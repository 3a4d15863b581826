"""The layout of the view maps, named once for ``pseudo_label`` that writes them and ``score`` that reads them.

``<views>/<view>/<name>.png``: the labeler's probability map of image ``name`` in view ``view``, brought back to the
original frame and size, 8-bit (round(p * 255)). One folder per view, each the output of the DVC stage
``pseudo_label@<view>``.
"""

from __future__ import annotations

import os
from pathlib import Path


def view_folder(views_dir: str | os.PathLike[str], view: str) -> Path:
    """The folder of one view's maps."""
    return Path(views_dir) / view


def view_map_file(view_folder_path: str | os.PathLike[str], name: str) -> Path:
    """The map of image ``name`` inside one view's folder."""
    return Path(view_folder_path) / f"{name}.png"


def view_map_path(views_dir: str | os.PathLike[str], view: str, name: str) -> Path:
    """The map of image ``name`` in view ``view`` under the views folder."""
    return view_map_file(view_folder(views_dir, view), name)
