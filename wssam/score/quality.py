"""How good a pseudo label is where ground truth exists: IoU, MAE, and rank correlation with its entropy.

Masks are ``bool`` arrays (H, W) (True = foreground); probability maps are ``float`` (H, W) in [0, 1]. A soft map is
binarised at :data:`BINARISE_AT`: foreground where p >= 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

BINARISE_AT = 0.5


def binarise(probability: np.ndarray, threshold: float = BINARISE_AT) -> np.ndarray:
    """Foreground mask ``bool`` (H, W) of a probability map: True where p >= ``threshold``."""
    return np.asarray(probability) >= threshold


def iou(mask: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two ``bool`` masks of the same shape, in [0, 1]; 1.0 when both are empty."""
    mask = np.asarray(mask, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if mask.shape != gt.shape:
        raise ValueError(f"iou: mask shape {mask.shape} differs from GT shape {gt.shape}")
    union = np.count_nonzero(mask | gt)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(mask & gt) / union)


def mae(probability: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error between a probability map in [0, 1] and a ``bool`` GT mask of the same shape."""
    probability = np.asarray(probability, dtype=np.float64)
    if probability.shape != np.shape(gt):
        raise ValueError(f"mae: map shape {probability.shape} differs from GT shape {np.shape(gt)}")
    return float(np.mean(np.abs(probability - np.asarray(gt, dtype=np.float64))))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation of two equally long sequences, in [-1, 1].

    Returns ``None`` (JSON null) where it is undefined: fewer than 3 pairs, or either sequence constant.
    """
    x_values = np.asarray(x, dtype=np.float64)
    y_values = np.asarray(y, dtype=np.float64)
    if x_values.shape != y_values.shape:
        raise ValueError(f"rank_correlation: lengths differ ({x_values.size} and {y_values.size})")
    if x_values.size < 3 or np.ptp(x_values) == 0 or np.ptp(y_values) == 0:
        return None
    rho = pd.Series(x_values).corr(pd.Series(y_values), method="spearman")  # Pearson of the ranks, ties averaged
    return None if not np.isfinite(rho) else float(rho)
