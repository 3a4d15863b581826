"""The labeler interface: an expensive step once per image (and view), then cheap answers to prompts.

Shaped like segment-anything's ``SamPredictor``, but stateless: :meth:`Labeler.prepare` returns the per-image
state (SAM: the image embedding) instead of keeping it inside the labeler, so a caller can never ask about one
image with the state of another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from wssam.pseudo_label.prompts import Prompts


class Labeler(ABC):
    """Turns an image plus prompts (in the same frame) into a foreground probability map."""

    name: str = "labeler"

    @abstractmethod
    def prepare(self, image: np.ndarray) -> Any:
        """Per-image work for an RGB ``uint8`` (H, W, 3) image; returns a state for :meth:`predict`."""

    @abstractmethod
    def predict(self, state: Any, prompts: Prompts) -> np.ndarray:
        """Foreground probability ``float32`` (H, W) in [0, 1] for ``prompts`` given in the prepared image's frame."""

    def label(self, image: np.ndarray, prompts: Prompts) -> np.ndarray:
        """``predict(prepare(image), prompts)``, checked: shape (H, W), ``float32``, finite, in [0, 1]."""
        probability = self.predict(self.prepare(image), prompts)
        return checked_probability(probability, image.shape[:2], self.name)


def checked_probability(probability: np.ndarray, size: tuple[int, int], source: str) -> np.ndarray:
    """``probability`` as ``float32``, after checking its shape is ``size`` and its values are finite in [0, 1]."""
    probability = np.asarray(probability, dtype=np.float32)
    if probability.shape != tuple(size):
        raise ValueError(f"{source}: probability map has shape {probability.shape}, expected {tuple(size)}")
    if not np.all(np.isfinite(probability)) or probability.min() < 0.0 or probability.max() > 1.0:
        raise ValueError(f"{source}: probability map has values outside [0, 1] or not finite")
    return probability
