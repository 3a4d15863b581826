"""A labeler that reads one map per training image from a folder: pseudo masks made elsewhere, e.g. the ones the
authors of WS-SAM published for the 4,040 COD training images, to train on them or to score them against ours.

Files are matched by base name (``<folder>/<name>.<ext>``, any image suffix) and must have the image's size. A binary
file (at most two values, one of them 0: 0/255, 0/1, 0/65535, as ground-truth masks are read) becomes 0/1; any
other is read as one grey channel divided by 255 (a soft map keeps its levels). A 0/1 mask is thus not taken for a
nearly black probability map, which would pass entropy selection as a confident, empty label. Every map is checked
before any is used: a missing or wrongly sized one is an InputError naming the file. The map does not depend on
the view (it was made outside this pipeline), so every view gets the same map: use ``pseudo_label.views:
[identity]`` with this labeler.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from wssam.io import InputError, list_images, read_image_size, read_mask_made_elsewhere
from wssam.pseudo_label.cache import file_digest
from wssam.pseudo_label.labelers.base import Labeler
from wssam.pseudo_label.prompts import Prompts
from wssam.pseudo_label.views import View


class FolderLabeler(Labeler):
    """Maps read from ``folder`` by image name (see the module docstring)."""

    name = "folder"
    samples_prompts = False  # reads its masks

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(
                f"{self.folder}: folder of pseudo masks not found (pseudo_label.folder.masks); put the masks there"
            )
        self.files = list_images(self.folder)

    def check_images(self, rows: pd.DataFrame) -> None:
        """Every usable row has a map of its image's size (read from the file header)."""
        for row in rows.itertuples(index=False):
            path = self.files.get(row.name)
            if path is None:
                raise InputError(
                    f"{self.folder / (row.name + '.png')}: no pseudo mask for training image '{row.name}'; add it or "
                    "remove the image from the training set"
                )
            size = read_image_size(path, fix="replace the pseudo mask")
            if size != (int(row.height), int(row.width)):
                raise InputError(
                    f"{path}: pseudo mask is {size[1]}x{size[0]} (WxH) but image '{row.name}' is "
                    f"{int(row.width)}x{int(row.height)}; give masks at the images' size"
                )

    def image_input(self, name: str) -> str:
        """The digest of image ``name``'s mask file: a replaced mask is read again, not taken from the cache."""
        return file_digest(self.files[name])

    def map_in_view(self, name: str, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        del prompts, view  # made outside this pipeline: the same map for every view
        probability = read_mask_made_elsewhere(self.files[name])
        if probability.shape != image.shape[:2]:
            raise InputError(f"{self.files[name]}: pseudo mask size differs from its image; replace it")
        return probability
