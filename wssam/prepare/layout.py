"""The layout of a prepared dataset, named once for ``prepare`` that writes it and every stage that reads it.

``<prepared>/train/`` and ``<prepared>/test/<set>/`` each hold::

    Imgs/<name>.<ext>        the image, copied byte for byte (extension kept; demo images are .png)
    GT/<name>.png            ground truth, 0/255 (where known)
    Scribble/<name>.png      S-COD sparse labels 0/1/2 (training set; Point/ for point labels)
    manifest.csv             one row per image (see :mod:`wssam.prepare.manifest`)

A raw dataset folder given to ``prepare`` uses the same sub-folder names.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGES_DIR = "Imgs"
GT_DIR = "GT"
SPARSE_DIRS = {"scribble": "Scribble", "point": "Point"}
MANIFEST_NAME = "manifest.csv"
TRAIN_DIR = "train"
TEST_DIR = "test"


def train_folder(prepared: str | os.PathLike[str]) -> Path:
    """The prepared training set."""
    return Path(prepared) / TRAIN_DIR


def test_folder(prepared: str | os.PathLike[str], name: str) -> Path:
    """The prepared test set ``name``."""
    return Path(prepared) / TEST_DIR / name


def image_file(name: str, suffix: str = ".png") -> str:
    """An image's path relative to its dataset folder (``suffix`` is the source's extension, lower case)."""
    return f"{IMAGES_DIR}/{name}{suffix}"


def gt_file(name: str) -> str:
    """A GT mask's path relative to its dataset folder."""
    return f"{GT_DIR}/{name}.png"


def sparse_file(name: str, kind: str) -> str:
    """A sparse label map's path relative to its dataset folder (``kind``: scribble or point)."""
    return f"{SPARSE_DIRS[kind]}/{name}.png"
