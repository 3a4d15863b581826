"""Choosing the training images whose fused pseudo label is certain enough.

Two rules, both working on each image's mean pixel entropy (bits, lower = more certain):

- ``tau``: keep an image when its mean entropy <= tau (the paper's rule; tau = 0.03 kept 72.7 % of the S-COD
  scribble images);
- ``fraction``: keep the ``keep_fraction`` share of images with the lowest mean entropy, at least one; ties are
  broken by name so that the choice is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

SELECTION_RULES = ("tau", "fraction")


def count_to_keep(n_images: int, keep_fraction: float) -> int:
    """Number of images the fraction rule keeps: ``keep_fraction * n_images`` rounded half up, between 1 and n."""
    if n_images < 1:
        raise ValueError("count_to_keep needs at least one image")
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    return min(n_images, max(1, math.floor(keep_fraction * n_images + 0.5)))


def select_images(
    mean_entropy: Mapping[str, float], *, rule: str, tau: float = 0.0, keep_fraction: float = 1.0
) -> dict[str, bool]:
    """Decide which images to keep for training.

    Args:
        mean_entropy: image name -> mean pixel entropy in bits ([0, 1]).
        rule: ``"tau"`` (keep entropy <= ``tau``) or ``"fraction"`` (keep the ``keep_fraction`` most certain
            images, at least one, ties broken by name). A value that is not finite raises ValueError.
        tau: entropy threshold in bits, used by the ``tau`` rule.
        keep_fraction: share of images to keep, in (0, 1], used by the ``fraction`` rule.

    Returns:
        image name -> kept, in the order of ``mean_entropy``. The ``tau`` rule may keep no image at all; the caller
        decides whether that is an error.
    """
    unusable = [name for name, value in mean_entropy.items() if not math.isfinite(value)]
    if unusable:  # a NaN would sort anywhere and take a most-certain image's place
        raise ValueError(f"mean entropy is not a finite number for {', '.join(unusable[:3])}")
    if rule == "tau":
        return {name: bool(value <= tau) for name, value in mean_entropy.items()}
    if rule == "fraction":
        if not mean_entropy:
            return {}
        ranked = sorted(mean_entropy, key=lambda name: (mean_entropy[name], name))
        kept = set(ranked[: count_to_keep(len(ranked), keep_fraction)])
        return {name: name in kept for name in mean_entropy}
    raise ValueError(f"unknown selection rule {rule!r}; choose one of {', '.join(SELECTION_RULES)}")
