"""A weight-free labeler: the random walker of Grady (2006), seeded by the sparse label map itself.

Every stroke pixel is a seed (1 = foreground, 2 = background, as stored in S-COD maps); the answer is the
probability that a random walk from each pixel reaches a foreground seed first. With point labels only (or when
the map has no background pixel at all) the unlabelled pixels of the 1-pixel image border are added as background
seeds, otherwise a single-class walk would be trivially foreground everywhere.

The linear system is solved directly (skimage mode ``bf``) by default: on these weakly textured images the
conjugate-gradient modes converge slowly (128 px: 0.5 s direct vs 4.5 s ``cg_j``; 256 px: 3.8 s vs 28 s, on 2
cores) and the direct answer has no tolerance, so views agree up to rounding.

Its cost grows faster than the pixel count (a sparse factorisation of one equation per pixel), so the walk runs at
a bounded *working size*: an image whose long side exceeds ``max_side`` is shrunk to that long side (bilinear,
antialiased), its seeds brought down by nearest neighbour with every stroke pixel put back (the label-map rule of
:mod:`wssam.pseudo_label.views`), and the map brought back to full size bilinearly. Smaller images are walked as
they are, so the demo's 128 px maps do not depend on it.

In a view, the image is brought to the working size first and the view taken of that (a ``scale0.5`` view of a
2000 px photo is walked at ``max_side / 2``, not shrunk to ``max_side`` like the ``identity`` view, which would make
the two views one). The walk is equivariant to flips and quarter turns (its graph is the pixel grid, whose edges
they map onto each other), so the 8 flip/rotation views at one scale give the same map bit for bit, at any size.
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage.segmentation import random_walker

from wssam.labels import BACKGROUND, background_mask, foreground_mask, labelled_mask
from wssam.pseudo_label.config import RandomWalkerConfig
from wssam.pseudo_label.labelers.base import PromptLabeler, checked_probability
from wssam.pseudo_label.prompts import Prompts, prompts_in_view
from wssam.pseudo_label.views import View


def seeds_with_border(sparse: np.ndarray, *, kind: str, border_background: bool) -> np.ndarray:
    """Seed map ``uint8`` (H, W) 0/1/2: ``sparse`` plus, where wanted, the unlabelled border pixels as background.

    The border is added for point labels when ``border_background`` is set, and always when ``sparse`` has no
    background pixel (the walk needs two classes).
    """
    seeds = sparse.copy()
    no_background = not np.any(background_mask(sparse))
    if no_background or (kind == "point" and border_background):
        border = np.zeros(sparse.shape, dtype=bool)
        border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
        seeds[border & ~labelled_mask(seeds)] = BACKGROUND
    return seeds


def working_view(size: tuple[int, int], max_side: int) -> View | None:
    """The shrinking :class:`View` that brings an image of ``size`` (H, W) to a long side of ``max_side`` pixels,
    or None when it is not larger than that."""
    long_side = max(size)
    if long_side <= max_side:
        return None
    return View(name=f"working size {max_side} px", scale=max_side / long_side)


class RandomWalkerLabeler(PromptLabeler):
    """Random-walker probabilities from the dense sparse map (points are not used: the strokes are richer), at a
    working size of at most ``config.max_side`` pixels on the long side."""

    name = "random_walker"
    libraries = ("numpy", "pillow", "scipy", "scikit-image", "pyamg")
    samples_prompts = False  # walks the strokes themselves

    def __init__(self, config: RandomWalkerConfig) -> None:
        self.config = config

    def label(self, image: np.ndarray, prompts: Prompts) -> np.ndarray:
        """Foreground probability ``float32`` (H, W) in [0, 1] for RGB ``uint8`` (H, W, 3) and its prompts, walked
        at the working size (see the module docstring) and brought back to (H, W)."""
        view = working_view(image.shape[:2], self.config.max_side)
        if view is None:
            return super().label(image, prompts)
        small = super().label(view.apply_image(image), prompts_in_view(prompts, view))
        return checked_probability(view.invert_map(small, image.shape[:2]), image.shape[:2], self.name)

    def map_in_view(self, name: str, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        """The map of ``image`` (RGB ``uint8`` (H, W, 3), prompts in its frame) in ``view``, ``float32`` (H, W): the
        view is taken of the image at its working size and walked as it is (a ``scale2`` view at twice
        ``max_side`` at most), and the map brought back to (H, W)."""
        del name  # the answer depends on the image and the prompts only
        working = working_view(image.shape[:2], self.config.max_side)
        if working is None:
            return self._walk_in_view(image, prompts, view)
        small = self._walk_in_view(working.apply_image(image), prompts_in_view(prompts, working), view)
        return checked_probability(working.invert_map(small, image.shape[:2]), image.shape[:2], self.name)

    def _walk_in_view(self, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
        """``image`` and ``prompts`` moved into ``view``, walked at that size, the map brought back: (H, W)."""
        probability = super().label(view.apply_image(image), prompts_in_view(prompts, view))
        return view.invert_map(probability, image.shape[:2])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3) -> ``float64`` (H, W, 3) in [0, 1] (the walk's edge weights use it)."""
        return image.astype(np.float64) / 255.0

    def predict(self, state: np.ndarray, prompts: Prompts) -> np.ndarray:
        """Foreground probability ``float32`` (H, W) in [0, 1]; seed pixels are exactly 1 (fg) or 0 (bg)."""
        seeds = seeds_with_border(prompts.sparse, kind=prompts.kind, border_background=self.config.border_background)
        if state.shape[:2] != seeds.shape:
            raise ValueError(f"image {state.shape[:2]} and sparse map {seeds.shape} differ in size")
        if not np.any(foreground_mask(seeds)):
            return np.zeros(seeds.shape, dtype=np.float32)
        if np.all(labelled_mask(seeds)):
            return foreground_mask(seeds).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "isolated pixels" / tolerance notices
            full = random_walker(
                state,
                seeds.astype(np.int32),
                beta=self.config.beta,
                mode=self.config.mode,
                tol=self.config.tol,
                return_full_prob=True,
                channel_axis=-1,
            )
        probability = np.nan_to_num(full[0], nan=0.5, posinf=1.0, neginf=0.0)
        return np.clip(probability, 0.0, 1.0).astype(np.float32)
