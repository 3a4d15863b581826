"""Prompts for a labeler, drawn from sparse labels (scribbles or points). Pure and seeded.

SAM has no scribble prompt, so points are sampled from the strokes: up to ``max_points`` positive points from
foreground pixels (label 1) and up to ``max_points`` negative points from background pixels (label 2), spread
out by farthest-point sampling from a random first pixel. The random generator is seeded by the pair
``(seed, crc32(image name))``, so every image gets its own points, the same in every run and every view (prompts
are drawn once in the ORIGINAL frame and then moved into each view). With point labels every labelled pixel is
a prompt. A box around the foreground pixels is optional.

Coordinates: ``(x, y)`` pixels, ``x`` = column, ``y`` = row, integers at pixel centres (see
:mod:`wssam.pseudo_label.views`).
Point labels use SAM's encoding: 1 = foreground, 0 = background.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from wssam.io import InputError
from wssam.labels import FOREGROUND, SPARSE_KINDS, background_mask, foreground_mask
from wssam.pseudo_label.config import PromptConfig
from wssam.pseudo_label.views import View

SAM_POSITIVE = 1
SAM_NEGATIVE = 0


class NoForegroundError(InputError):
    """An image whose sparse labels contain no foreground pixel: no prompt can be made for it."""


@dataclass(frozen=True)
class Prompts:
    """Prompts for one image in one frame.

    - ``points``: ``float32`` (N, 2), ``(x, y)`` pixels;
    - ``labels``: ``int64`` (N,), 1 = foreground, 0 = background;
    - ``box``: ``float32`` (4,) ``(x0, y0, x1, y1)`` around the foreground pixels (inclusive centres), or None (not
      asked for, or the foreground encloses no area: :func:`foreground_box`);
    - ``sparse``: the S-COD label map ``uint8`` (H, W) in the same frame, for labelers that use dense strokes;
    - ``kind``: ``scribble`` or ``point``.
    """

    points: np.ndarray
    labels: np.ndarray
    box: np.ndarray | None
    sparse: np.ndarray
    kind: str = "scribble"

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frame these prompts live in."""
        return self.sparse.shape[0], self.sparse.shape[1]

    @property
    def multimask(self) -> bool:
        """SAM's advice: ask for three masks (and keep the best) only for a single point without a box."""
        return len(self.points) == 1 and self.box is None


def image_rng(seed: int, name: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the image name (stable across runs and machines)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def farthest_points(candidates: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``min(count, len(candidates))`` rows of ``candidates`` (M, 2) spread out: a random first row, then
    each time the row farthest from those already picked (ties: lowest index). Returns (K, 2), same dtype."""
    total = len(candidates)
    if total <= count:
        return candidates.copy()
    coords = candidates.astype(np.float64)
    picked = [int(rng.integers(total))]
    distance = np.sum((coords - coords[picked[0]]) ** 2, axis=1)
    for _ in range(count - 1):
        index = int(np.argmax(distance))
        picked.append(index)
        distance = np.minimum(distance, np.sum((coords - coords[index]) ** 2, axis=1))
    return candidates[picked].copy()


def _pixels(mask: np.ndarray) -> np.ndarray:
    """(x, y) of the True pixels of ``mask``, row-major order, ``float32`` (M, 2)."""
    ys, xs = np.nonzero(mask)
    return np.stack([xs, ys], axis=1).astype(np.float32)


def foreground_box(sparse: np.ndarray) -> np.ndarray | None:
    """``float32`` (4,) ``(x0, y0, x1, y1)`` around the foreground pixels of ``sparse`` (inclusive centres), or None
    when they enclose no area (a single point, or one straight line of pixels): SAM would read such a box as a
    prompt of its own, and it would switch a single point's multimask output off."""
    pixels = _pixels(foreground_mask(sparse))
    low, high = pixels.min(axis=0), pixels.max(axis=0)
    if np.any(high <= low):
        return None
    return np.concatenate([low, high]).astype(np.float32)


def prompts_from_sparse(sparse: np.ndarray, *, kind: str, name: str, seed: int, config: PromptConfig) -> Prompts:
    """Prompts in the original frame from an S-COD label map ``uint8`` (H, W) with values 0/1/2.

    ``kind`` "scribble": up to ``config.max_points`` points per class, spread out, seeded by ``(seed, name)``;
    "point": every labelled pixel. Raises :class:`NoForegroundError` when no pixel is labelled foreground.
    """
    if kind not in SPARSE_KINDS:
        raise InputError(f"image {name}: sparse_kind {kind!r} is not one of {', '.join(SPARSE_KINDS)}")
    foreground = _pixels(foreground_mask(sparse))
    background = _pixels(background_mask(sparse))
    if len(foreground) == 0:
        raise NoForegroundError(
            f"image {name}: the sparse labels have no foreground pixel (value {FOREGROUND}); "
            "mark it not usable in the manifest or add a foreground stroke"
        )
    if kind == "scribble":
        rng = image_rng(seed, name)
        foreground = farthest_points(foreground, config.max_points, rng)
        background = farthest_points(background, config.max_points, rng)
    points = np.concatenate([foreground, background]).astype(np.float32).reshape(-1, 2)
    labels = np.concatenate([np.full(len(foreground), SAM_POSITIVE), np.full(len(background), SAM_NEGATIVE)]).astype(
        np.int64
    )
    box = foreground_box(sparse) if config.use_box else None
    return Prompts(points=points, labels=labels, box=box, sparse=sparse, kind=kind)


def prompts_in_view(prompts: Prompts, view: View) -> Prompts:
    """Move ``prompts`` (original frame) into ``view``: points, box and the sparse map (nearest neighbour)."""
    size = prompts.size
    box = None if prompts.box is None else view.apply_box(prompts.box, size)
    return replace(
        prompts,
        points=view.apply_points(prompts.points, size),
        box=box,
        sparse=view.apply_label_map(prompts.sparse),
    )
