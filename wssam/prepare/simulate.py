"""Sparse labels simulated from a ground-truth mask: scribbles or points, seeded, in the S-COD encoding.

Every function here is pure: a ``bool`` (H, W) mask and a seed in, a ``uint8`` (H, W) label map out with
1 = foreground, 2 = background, 0 = unlabelled (see :mod:`wssam.labels`).

Scribbles
    Foreground: for every object (connected component of the mask), a piece of the skeleton of the object eroded
    by more than the stroke radius plus a chord through its deepest point, drawn ``stroke_width`` wide.
    Background: an arc of the curve that runs at a fixed distance around the objects, plus a stroke along part
    of the image border, kept well away from the objects. Strokes never cross the true boundary: foreground
    pixels all lie inside the mask, background pixels all outside, with a margin of at least one pixel.
Points
    ``points_per_class`` single pixels per class, drawn among the pixels farthest from the boundary (inside the
    objects and outside them).

An object too small to erode still gets one foreground pixel: its deepest pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import disk, skeletonize

from wssam.labels import BACKGROUND, FOREGROUND, SPARSE_KINDS, UNLABELLED

BACKGROUND_RING_FRACTION = 0.12  # distance of the background arc from the objects, share of the image side
BORDER_INSET_FRACTION = 0.06  # distance of the border stroke from the image edge, share of the image side
DEEP_FRACTION = 0.5  # points are drawn among pixels at least this share of the deepest distance from the boundary
SKELETON_KEEP = 0.8  # the foreground stroke keeps skeleton pixels within this share (or more) of its reach


def _deepest_pixel(region: np.ndarray) -> tuple[int, int]:
    """(row, col) of the pixel of ``region`` farthest from its outside (first in raster order on ties)."""
    depth = ndimage.distance_transform_edt(region)
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(row), int(col)


def _skeleton_piece(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded, roughly contiguous piece of the skeleton of ``region`` (bool (H, W), non-empty); bool (H, W).

    The piece keeps the skeleton pixels within a random radius of a random skeleton pixel.
    """
    skeleton = skeletonize(region)
    rows, cols = np.nonzero(skeleton)
    if rows.size == 0:
        rows, cols = np.nonzero(region)
    start = int(rng.integers(rows.size))
    distance = np.hypot(rows - rows[start], cols - cols[start])
    keep = distance <= rng.uniform(SKELETON_KEEP, 1.0) * max(float(distance.max()), 1.0)
    piece = np.zeros_like(region)
    piece[rows[keep], cols[keep]] = True
    return piece


def _chord(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A straight stroke through the deepest pixel of ``region`` at a random angle, up to where it leaves the
    region (the contiguous run through that pixel, 60 % to 100 % of it); bool (H, W)."""
    row, col = _deepest_pixel(region)
    angle = rng.uniform(0, np.pi)
    reach = float(max(region.shape))
    steps = np.arange(0.0, reach, 0.5)
    chord = np.zeros_like(region)
    for sign in (1.0, -1.0):
        rows = np.round(row + sign * steps * np.sin(angle)).astype(int)
        cols = np.round(col + sign * steps * np.cos(angle)).astype(int)
        inside = (rows >= 0) & (rows < region.shape[0]) & (cols >= 0) & (cols < region.shape[1])
        inside[inside] = region[rows[inside], cols[inside]]
        run = int(np.argmin(inside)) if not inside.all() else inside.size
        run = max(1, int(run * rng.uniform(0.6, 1.0)))
        chord[rows[:run], cols[:run]] = True
    return chord


def foreground_strokes(mask: np.ndarray, *, stroke_width: int, rng: np.random.Generator) -> np.ndarray:
    """Foreground scribbles, one per object of ``mask`` (bool (H, W)); bool (H, W), always inside ``mask``.

    Each object is eroded by the stroke radius plus one pixel; the stroke is a skeleton piece of the eroded
    object plus a straight chord through its deepest point (round objects have a point-like skeleton), drawn
    ``stroke_width`` wide. An object too thin for that gets a single pixel at its deepest point.
    """
    radius = stroke_width // 2
    strokes = np.zeros_like(mask)
    components, count = ndimage.label(mask)
    for index in range(1, count + 1):
        component = components == index
        core = ndimage.distance_transform_edt(component) > radius + 1
        if core.any():
            piece = _skeleton_piece(core, rng) | _chord(core, rng)
            strokes |= ndimage.binary_dilation(piece, structure=disk(radius)) if radius else piece
        else:
            strokes[_deepest_pixel(component)] = True
    return strokes & mask


def background_strokes(mask: np.ndarray, *, stroke_width: int, rng: np.random.Generator) -> np.ndarray:
    """Background scribbles for ``mask`` (bool (H, W)); bool (H, W), always at least radius + 2 px outside ``mask``.

    An arc (a random 180 to 300 degree share around the objects' centre) of the curve at distance
    ``BACKGROUND_RING_FRACTION * side`` from the objects, plus a piece of a line along one image border.
    When neither fits (an object filling the image), the background pixel farthest from the objects is used.
    """
    height, width = mask.shape
    radius = stroke_width // 2
    side = min(height, width)
    distance = ndimage.distance_transform_edt(~mask) if mask.any() else np.full(mask.shape, float(side))
    safe = distance >= radius + 2
    ring_distance = max(BACKGROUND_RING_FRACTION * side, radius + 3)
    ring = (distance >= ring_distance) & (distance < ring_distance + 1.0)
    centre = np.argwhere(mask).mean(axis=0) if mask.any() else np.array([height / 2, width / 2])
    rows, cols = np.mgrid[0:height, 0:width]
    angle = np.mod(np.arctan2(rows - centre[0], cols - centre[1]) - rng.uniform(0, 2 * np.pi), 2 * np.pi)
    arc = ring & (angle <= np.deg2rad(rng.uniform(180, 300)))
    inset = max(round(BORDER_INSET_FRACTION * side), radius + 1)
    border = np.zeros_like(mask)
    which = int(rng.integers(4))
    start, stop = sorted(rng.uniform(0.1, 0.9, size=2))
    start, stop = int(start * side), max(int(stop * side), int(start * side) + 1)
    if inset > side - 1:  # the image is too thin for a line that far inside: the arc, or the deepest pixel
        pass
    elif which == 0:
        border[inset, start:stop] = True
    elif which == 1:
        border[height - 1 - inset, start:stop] = True
    elif which == 2:
        border[start:stop, inset] = True
    else:
        border[start:stop, width - 1 - inset] = True
    centreline = (arc | border) & safe
    if not centreline.any():
        centreline = np.zeros_like(mask)
        if (~mask).any():
            centreline[_deepest_pixel(~mask)] = True
    strokes = ndimage.binary_dilation(centreline, structure=disk(radius)) if radius else centreline
    return strokes & (distance >= 1) & ~mask


def simulate_scribbles(mask: np.ndarray, *, stroke_width: int, seed: int) -> np.ndarray:
    """Scribble label map for ``mask`` (bool (H, W)); uint8 (H, W): 1 fg stroke, 2 bg stroke, 0 unlabelled."""
    rng = np.random.default_rng(seed)
    labels = np.full(mask.shape, UNLABELLED, dtype=np.uint8)
    labels[background_strokes(mask, stroke_width=stroke_width, rng=rng)] = BACKGROUND
    labels[foreground_strokes(mask, stroke_width=stroke_width, rng=rng)] = FOREGROUND
    return labels


def _deep_points(region: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cols of ``count`` distinct pixels of ``region`` drawn among its deepest ones (fewer if too small)."""
    depth = ndimage.distance_transform_edt(region)
    deep = depth >= DEEP_FRACTION * depth.max()
    rows, cols = np.nonzero(deep)
    chosen = rng.choice(rows.size, size=min(count, rows.size), replace=False)
    return rows[chosen], cols[chosen]


def simulate_points(mask: np.ndarray, *, points_per_class: int, seed: int) -> np.ndarray:
    """Point label map for ``mask`` (bool (H, W)); uint8 (H, W) with up to ``points_per_class`` pixels per class.

    Points lie away from the boundary: among the pixels whose distance to the other class is at least half the
    largest such distance. A class with no pixel gets no point.
    """
    rng = np.random.default_rng(seed)
    labels = np.full(mask.shape, UNLABELLED, dtype=np.uint8)
    for value, region in ((FOREGROUND, mask), (BACKGROUND, ~mask)):
        if region.any():
            rows, cols = _deep_points(region, points_per_class, rng)
            labels[rows, cols] = value
    return labels


def simulate_sparse(mask: np.ndarray, *, kind: str, seed: int, stroke_width: int, points_per_class: int) -> np.ndarray:
    """Scribbles or points (``kind`` in ``SPARSE_KINDS``) for ``mask``; uint8 (H, W) S-COD label map."""
    if kind == "scribble":
        return simulate_scribbles(mask, stroke_width=stroke_width, seed=seed)
    if kind == "point":
        return simulate_points(mask, points_per_class=points_per_class, seed=seed)
    raise ValueError(f"unknown sparse kind {kind!r}; expected one of {SPARSE_KINDS}")
