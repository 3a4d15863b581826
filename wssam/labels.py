"""The sparse-label encoding (S-COD convention), stated once for the whole package.

A sparse label map is a ``uint8`` array of shape (H, W) stored as an 8-bit single-channel PNG:
``1`` = foreground stroke (or point), ``2`` = background stroke (or point), ``0`` = unlabelled.
Such a map looks black in an image viewer. Resizing or rotating it must use nearest-neighbour interpolation:
any other interpolation invents label values at stroke borders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from wssam.io import InputError

UNLABELLED = 0
FOREGROUND = 1
BACKGROUND = 2
VALID_LABELS = (UNLABELLED, FOREGROUND, BACKGROUND)
#: kinds of sparse labels: strokes, or single labelled pixels (same encoding)
SPARSE_KINDS = ("scribble", "point")


def check_label_map(labels: np.ndarray, source: str | os.PathLike[str]) -> np.ndarray:
    """Return ``labels`` if it is a (H, W) map with values in {0, 1, 2}, else raise an InputError naming ``source``."""
    if labels.ndim != 2:
        raise InputError(f"{source}: sparse label map must have one channel, got shape {labels.shape}")
    bad = np.setdiff1d(np.unique(labels), VALID_LABELS)
    if bad.size:
        raise InputError(
            f"{source}: sparse label map has values {bad.tolist()}; expected 0 (unlabelled), 1 (foreground),"
            " 2 (background) as in S-COD"
        )
    return labels


def foreground_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (a numpy array or a torch tensor): pixels labelled foreground."""
    return labels == FOREGROUND


def background_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (array or tensor): pixels labelled background."""
    return labels == BACKGROUND


def labelled_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` map of ``labels``'s shape (array or tensor): pixels with any label (foreground or background)."""
    return labels != UNLABELLED


def labelled_pieces(labels: np.ndarray) -> Iterator[tuple[int, np.ndarray, int]]:
    """The pieces of a sparse label map ``uint8`` (H, W): for foreground, then background, where present,
    ``(label, pieces, count)`` with ``pieces`` ``int32`` (H, W) numbering that label's 8-connected pieces 1 to
    ``count`` (0 elsewhere). A stroke is one piece; so is a single-pixel point."""
    from scipy import ndimage

    for value in (FOREGROUND, BACKGROUND):
        pieces, count = ndimage.label(labels == value, structure=np.ones((3, 3), dtype=bool))
        if count:
            yield value, pieces, count


def central_pixel(rows: np.ndarray, cols: np.ndarray) -> int:
    """Index into (``rows``, ``cols``) of the pixel of one piece nearest its centroid (ties: the first): the one
    pixel that stands for a piece a resampling dropped."""
    return int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))


def nearest_index(source: int, target: int) -> np.ndarray:
    """Source index of each target index for a pixel-centre nearest-neighbour resize of one axis (``int`` (target,)).

    Target pixel ``i`` takes source pixel ``floor((i + 0.5) * source / target)``: the centres bilinear resizing uses.
    """
    index = np.floor((np.arange(target) + 0.5) * source / target).astype(int)
    return np.clip(index, 0, source - 1)


def resize_label_map(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a sparse label map ``uint8`` (H, W) to ``size`` (h, w) by nearest neighbour, values unchanged.

    When shrinking, a labelled pixel that nearest neighbour would drop is written back at its own position in the
    target (pixel-centre rule, only onto unlabelled pixels); a piece (8-connected pixels of one label) still left
    without a pixel, because the other label holds its place (a foreground point beside a background one), gets one
    on the nearest unlabelled pixel around that place. So no stroke and no single-pixel point disappears.
    """
    source = labels.shape[:2]
    if tuple(size) == source:
        return labels.copy()
    out = labels[nearest_index(source[0], size[0])[:, None], nearest_index(source[1], size[1])[None, :]]
    if size[0] < source[0] or size[1] < source[1]:
        ys, xs = np.nonzero(labelled_mask(labels))
        ty = np.clip(np.round((ys + 0.5) * size[0] / source[0] - 0.5).astype(int), 0, size[0] - 1)
        tx = np.clip(np.round((xs + 0.5) * size[1] / source[1] - 0.5).astype(int), 0, size[1] - 1)
        free = ~labelled_mask(out[ty, tx])
        out[ty[free], tx[free]] = labels[ys[free], xs[free]]
        _place_crowded_out_pieces(labels, out, ys, xs, ty, tx)
    return out


def _place_crowded_out_pieces(
    labels: np.ndarray, out: np.ndarray, ys: np.ndarray, xs: np.ndarray, ty: np.ndarray, tx: np.ndarray
) -> None:
    """Give every piece of ``labels`` with no pixel in ``out`` one, in place, on the unlabelled pixel of ``out``
    nearest the target place (``ty``, ``tx``) of its pixel nearest its centroid (within 2 pixels; ``ys``, ``xs``:
    the labelled source pixels, (``ty``, ``tx``): where each lands)."""
    for value, pieces, count in labelled_pieces(labels):
        own = pieces[ys, xs]
        present = np.zeros(count + 1, dtype=bool)
        present[own[(own > 0) & (out[ty, tx] == value)]] = True
        for piece in np.flatnonzero(~present[1:]) + 1:
            members = np.flatnonzero(own == piece)
            centre = members[central_pixel(ys[members], xs[members])]
            row, col = _nearest_unlabelled(out, int(ty[centre]), int(tx[centre]))
            if row >= 0:
                out[row, col] = value


def _nearest_unlabelled(labels: np.ndarray, row: int, col: int, reach: int = 2) -> tuple[int, int]:
    """The unlabelled pixel of ``labels`` nearest (row, col) within ``reach`` pixels (ties: row-major first), or
    (-1, -1) when there is none."""
    top, left = max(0, row - reach), max(0, col - reach)
    window = labels[top : row + reach + 1, left : col + reach + 1]
    rows, cols = np.nonzero(window == UNLABELLED)
    if len(rows) == 0:
        return -1, -1
    nearest = int(np.argmin((rows + top - row) ** 2 + (cols + left - col) ** 2))
    return int(rows[nearest] + top), int(cols[nearest] + left)
