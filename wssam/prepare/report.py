"""What ``prepare`` tells the user about a dataset: conversions it applied and labels that are empty or nearly so.

Each finding is a *kind* (the constants below and the conversion notes of :mod:`wssam.pixels`) with the images it
concerns; it is printed once per kind and dataset, never once per image::

    warning: train: GT empty (no foreground pixel): 2 of 144 images (a, b)

A ground truth is *nearly empty* when its foreground covers less than :data:`NEARLY_EMPTY_FRACTION` of the image.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from wssam.labels import background_mask, foreground_mask

NEARLY_EMPTY_FRACTION = 0.001
GT_EMPTY = "GT empty (no foreground pixel)"
GT_NEARLY_EMPTY = f"GT nearly empty (foreground below {NEARLY_EMPTY_FRACTION:.1%} of the image)"
GT_FULL = "GT without background (foreground everywhere)"
NO_FOREGROUND_LABEL = "sparse labels without a foreground pixel (image not usable, skipped by later stages)"
NO_BACKGROUND_LABEL = "sparse labels without a background pixel (the random walker takes the image border)"
#: how many image names a line lists before "..."
NAMES_SHOWN = 5


def mask_findings(mask: np.ndarray) -> list[str]:
    """Kinds that apply to a ground-truth mask ``bool`` (H, W): empty, nearly empty, or without background."""
    foreground = int(np.count_nonzero(mask))
    if foreground == 0:
        return [GT_EMPTY]
    if foreground == mask.size:
        return [GT_FULL]
    return [GT_NEARLY_EMPTY] if foreground < NEARLY_EMPTY_FRACTION * mask.size else []


def label_findings(labels: np.ndarray) -> list[str]:
    """Kinds that apply to an S-COD sparse map ``uint8`` (H, W): no foreground label, no background label."""
    findings = []
    if not np.any(foreground_mask(labels)):
        findings.append(NO_FOREGROUND_LABEL)
    if not np.any(background_mask(labels)):
        findings.append(NO_BACKGROUND_LABEL)
    return findings


class Findings:
    """Kind -> names of the images it concerns, in the order they were found."""

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, kinds: Iterable[str]) -> None:
        """Record image ``name`` under each kind (once per kind)."""
        for kind in kinds:
            if name not in self.by_kind[kind]:
                self.by_kind[kind].append(name)

    def lines(self, dataset: str, images: int) -> list[str]:
        """One ``warning:`` line per kind for ``dataset`` of ``images`` images."""
        lines = []
        for kind, names in self.by_kind.items():
            shown = ", ".join(names[:NAMES_SHOWN]) + (", ..." if len(names) > NAMES_SHOWN else "")
            lines.append(f"warning: {dataset}: {kind}: {len(names)} of {images} images ({shown})")
        return lines
