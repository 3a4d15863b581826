"""The sparse-label encoding (S-COD convention), stated once for the whole package.

A sparse label map is a ``uint8`` array of shape (H, W) stored as an 8-bit single-channel PNG:
``1`` = foreground stroke (or point), ``2`` = background stroke (or point), ``0`` = unlabelled.
Such a map looks black in an image viewer. Resizing or rotating it must use nearest-neighbour interpolation:
any other interpolation invents label values at stroke borders.
"""

from __future__ import annotations

import os

import numpy as np

from wssam.io import InputError

UNLABELLED = 0
FOREGROUND = 1
BACKGROUND = 2
VALID_LABELS = (UNLABELLED, FOREGROUND, BACKGROUND)
#: kinds of sparse labels: strokes, or single labelled pixels (same encoding)
SPARSE_KINDS = ("scribble", "point")


def check_label_map(labels: np.ndarray, source: str | os.PathLike[str]) -> np.ndarray:
    """Return ``labels`` if it is a (H, W) map with values in {0, 1, 2}, else raise an InputError naming ``source``."""
    if labels.ndim != 2:
        raise InputError(f"{source}: sparse label map must have one channel, got shape {labels.shape}")
    bad = np.setdiff1d(np.unique(labels), VALID_LABELS)
    if bad.size:
        raise InputError(
            f"{source}: sparse label map has values {bad.tolist()}; expected 0 (unlabelled), 1 (foreground),"
            " 2 (background) as in S-COD"
        )
    return labels


def foreground_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (a numpy array or a torch tensor): pixels labelled foreground."""
    return labels == FOREGROUND


def background_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (array or tensor): pixels labelled background."""
    return labels == BACKGROUND


def labelled_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (array or tensor): pixels with any label (foreground or background)."""
    return labels != UNLABELLED
