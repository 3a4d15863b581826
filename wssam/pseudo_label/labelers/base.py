"""The labeler interfaces.

A :class:`Labeler` gives, for one training image and one augmentation view, a foreground map in the image's
original frame. Most labelers answer prompts (:class:`PromptLabeler`): an expensive step once per image (and view),
then cheap answers to prompts, shaped like segment-anything's ``SamPredictor`` but stateless
(:meth:`PromptLabeler.prepare` returns the per-image state, SAM's embedding, instead of keeping it, so a caller can
never ask about one image with the state of another); they work inside the view, and :func:`label_in_view` brings
their answer back. A labeler that reads maps made elsewhere (``folder``) answers by image name instead.

The stage hands a labeler several images of one view at once (:meth:`Labeler.maps_in_view`, up to
:attr:`Labeler.batch_size`), so a labeler that gains from batches (SAM on a GPU) can encode them together; and it
asks each labeler what its maps depend on beyond its params section (:meth:`Labeler.resolved`,
:attr:`Labeler.libraries`, :meth:`Labeler.image_input`), for the keys of the per-image cache
(:mod:`wssam.pseudo_label.cache`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wssam.pseudo_label.prompts import Prompts, prompts_in_view
from wssam.pseudo_label.views import View


@dataclass(frozen=True)
class Example:
    """One training image as the labelers receive it: ``name``, RGB ``image`` ``uint8`` (H, W, 3) and its
    ``prompts`` in the original frame."""

    name: str
    image: np.ndarray
    prompts: Prompts


class Labeler(ABC):
    """Gives each training image a foreground map ``float32`` (H, W) in [0, 1] per augmentation view.

    ``batch_size``: images the stage hands :meth:`maps_in_view` at once; ``libraries``: the distributions whose
    versions the maps depend on (part of the cache key); ``samples_prompts``: whether the maps depend on the points
    and box sampled from the strokes (``pseudo_label.prompts`` and ``seed``, in the cache key only then).
    """

    name: str = "labeler"
    batch_size: int = 1
    libraries: tuple[str, ...] = ("numpy", "pillow")
    samples_prompts: bool = True

    def check_images(self, rows: pd.DataFrame) -> None:
        """Check, before any work, that the labeler can answer for every manifest row (by default: it can)."""
        del rows

    def resolved(self) -> dict[str, Any]:
        """What the labeler decided at run time that changes its maps (e.g. SAM's device and precision)."""
        return {}

    def image_input(self, name: str) -> str:
        """A digest of what the labeler reads for image ``name`` alone, beyond the image and its prompts (the
        ``folder`` labeler: its mask file); ``""`` when nothing."""
        del name
        return ""

    def maps_in_view(self, examples: list[Example], view: View) -> list[np.ndarray]:
        """:meth:`map_in_view` of each example, in order (a labeler that gains from batches overrides this)."""
        return [self.map_in_view(e.name, e.image, e.prompts, view) for e in examples]

    @abstractmethod
    def map_in_view(self, name: str, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        """The map of image ``name`` (RGB ``uint8`` (H, W, 3), prompts in its original frame) for ``view``, brought
        back to the original frame: ``float32`` (H, W) in [0, 1]."""


class PromptLabeler(Labeler):
    """Turns an image plus prompts (in the same frame) into a foreground probability map, inside each view."""

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

    def map_in_view(self, name: str, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        del name  # the answer depends on the image and the prompts only
        return label_in_view(self, image, prompts, view)


def label_in_view(labeler: PromptLabeler, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
    """Run ``labeler`` on ``image`` and ``prompts`` (original frame) inside ``view``; return the probability map
    ``float32`` (H, W) in [0, 1] brought back to the original frame and size."""
    probability = labeler.label(view.apply_image(image), prompts_in_view(prompts, view))
    return view.invert_map(probability, image.shape[:2])


def checked_probability(probability: np.ndarray, size: tuple[int, int], source: str) -> np.ndarray:
    """``probability`` as ``float32``, after checking its shape is ``size`` and its values are finite in [0, 1]."""
    probability = np.asarray(probability, dtype=np.float32)
    if probability.shape != tuple(size):
        raise ValueError(f"{source}: probability map has shape {probability.shape}, expected {tuple(size)}")
    if not np.all(np.isfinite(probability)) or probability.min() < 0.0 or probability.max() > 1.0:
        raise ValueError(f"{source}: probability map has values outside [0, 1] or not finite")
    return probability
