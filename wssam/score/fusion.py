"""Fusing the augmentation views of one image into a soft pseudo label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fuse_views(views: Sequence[np.ndarray]) -> np.ndarray:
    """Average the views' probability maps into one soft pseudo label.

    Args:
        views: one or more probability maps, each of shape (H, W) with values in [0, 1], all in the original image
            frame (each view already mapped back: un-rotated, un-flipped, resized to the image size).

    Returns:
        ``float32`` array (H, W) in [0, 1], the pixel-wise mean of the views.

    Raises:
        ValueError: no view, or views of different shapes.
    """
    if len(views) == 0:
        raise ValueError("fuse_views needs at least one view")
    shape = np.shape(views[0])
    if len(shape) != 2:
        raise ValueError(f"views must be 2-D (H, W) maps, got shape {shape}")
    total = np.zeros(shape, dtype=np.float64)
    for index, view in enumerate(views):
        if np.shape(view) != shape:
            raise ValueError(f"view {index} has shape {np.shape(view)}, expected {shape}")
        total += view
    return np.clip(total / len(views), 0.0, 1.0).astype(np.float32)
