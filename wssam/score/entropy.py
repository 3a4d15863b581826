"""Binary entropy of soft pseudo labels, the pixel weights derived from it, and an image's mean entropy.

A probability map is a ``float`` array of shape (H, W) with values in [0, 1], the foreground probability of each
pixel. Entropy is measured in bits, so it lies in [0, 1]: 0 for a certain pixel (p = 0 or 1), 1 at p = 0.5.
"""

from __future__ import annotations

import numpy as np


def binary_entropy(probability: np.ndarray) -> np.ndarray:
    """Binary entropy in bits, H(p) = -p log2 p - (1 - p) log2 (1 - p), with 0 log 0 = 0.

    Args:
        probability: float array of any shape, values in [0, 1] (values outside are clipped).

    Returns:
        ``float32`` array of the same shape, values in [0, 1]; exactly 0 at p = 0 and p = 1, never NaN.
    """
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    q = 1.0 - p
    # where(x > 0, x, 1) keeps log2 away from 0; the term is then multiplied by x = 0, giving 0 log 0 = 0.
    entropy = -(p * np.log2(np.where(p > 0, p, 1.0)) + q * np.log2(np.where(q > 0, q, 1.0)))
    return np.clip(entropy, 0.0, 1.0).astype(np.float32)


def pixel_weights(probability: np.ndarray) -> np.ndarray:
    """Per-pixel weight of the pseudo-label loss, w = 1 - H(p).

    Args:
        probability: float array of any shape, values in [0, 1].

    Returns:
        ``float32`` array of the same shape in [0, 1]: 1 for certain pixels (p = 0 or 1), 0 at p = 0.5.
    """
    return (1.0 - binary_entropy(probability)).astype(np.float32)


def image_entropy(probability: np.ndarray) -> float:
    """Mean pixel entropy of one probability map, in bits (a float in [0, 1]); the image-selection score."""
    if np.asarray(probability).size == 0:
        raise ValueError("image_entropy needs a non-empty probability map")
    return float(np.mean(binary_entropy(probability), dtype=np.float64))
