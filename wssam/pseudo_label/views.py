"""Augmentation views: one object that moves an image, its sparse labels and its prompts into a view, and brings
a probability map computed in the view back to the original frame exactly.

A view is a horizontal flip (optional), then a rotation by ``k`` quarter turns COUNTER-CLOCKWISE as displayed
(exactly ``np.rot90(array, k)``), then a resize by ``scale``. View names are tokens joined by ``_``, applied left
to right::

    identity | [hflip] [vflip] [rot90|rot180|rot270] [scale<float>]      e.g. hflip_rot90, scale0.5, rot90_scale2

``vflip`` is stored as ``hflip`` followed by ``rot180`` (the same map).

Coordinate convention (the one segment-anything uses for prompts): a point is ``(x, y)`` in pixel units with
``x`` = column, ``y`` = row, and integer values at pixel CENTRES (pixel ``(i, j)`` is the point ``(j, i)``).
Resizing uses the pixel-centre rule ``x' = (x + 0.5) * W' / W - 0.5``, which is the rule of bilinear resampling
without corner alignment and of the nearest-neighbour index map used for label maps, so geometry and pixels agree.

Label maps (S-COD 0/1/2) are always resampled by nearest neighbour; when shrinking, a labelled pixel that nearest
neighbour would drop is put back at its own transformed position, so single-pixel point labels survive ``scale0.5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from wssam.io import InputError
from wssam.labels import resize_label_map

VIEW_GRAMMAR = "identity, or tokens joined by '_' from: hflip, vflip, rot90, rot180, rot270, scale<positive number>"
_SCALE_TOKEN = re.compile(r"^scale(\d+(?:\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class View:
    """A flip + rotation + scale augmentation. Forward: hflip (if set), ``np.rot90(., k)``, resize by ``scale``."""

    name: str = "identity"
    hflip: bool = False
    k: int = 0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.k not in (0, 1, 2, 3):
            raise ValueError(f"view {self.name!r}: k must be 0..3, got {self.k}")
        if not self.scale > 0:
            raise ValueError(f"view {self.name!r}: scale must be positive, got {self.scale}")

    # ----------------------------------------------------------------- sizes
    def rotated_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of an image of ``size`` (H, W) after flip and rotation, before resizing."""
        height, width = size
        return (width, height) if self.k % 2 else (height, width)

    def view_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(H, W) of an image of original ``size`` (H, W) inside this view (each side rounded, at least 1)."""
        height, width = self.rotated_size(size)
        return max(1, round(height * self.scale)), max(1, round(width * self.scale))

    # ---------------------------------------------------------------- arrays
    def _orient(self, array: np.ndarray) -> np.ndarray:
        if self.hflip:
            array = array[:, ::-1]
        return np.ascontiguousarray(np.rot90(array, self.k))

    def _unorient(self, array: np.ndarray) -> np.ndarray:
        array = np.rot90(array, -self.k)
        if self.hflip:
            array = array[:, ::-1]
        return np.ascontiguousarray(array)

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3) -> ``uint8`` (H', W', 3) in the view (bilinear, antialiased when shrinking)."""
        oriented = self._orient(image)
        target = self.view_size(image.shape[:2])
        if target == oriented.shape[:2]:
            return oriented
        resized = Image.fromarray(oriented).resize((target[1], target[0]), Image.Resampling.BILINEAR)
        return np.asarray(resized, dtype=np.uint8).copy()

    def apply_label_map(self, labels: np.ndarray) -> np.ndarray:
        """Sparse label map ``uint8`` (H, W) -> (H', W') in the view, nearest neighbour only (values unchanged).

        When shrinking, labelled pixels lost by nearest neighbour are written back at their transformed position
        (only onto unlabelled pixels), so no stroke or point disappears.
        """
        return resize_label_map(self._orient(labels), self.view_size(labels.shape[:2]))

    def invert_map(self, probability: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Probability map ``float32`` (H', W') in this view -> ``float32`` (H, W) = ``size`` in the original frame.

        Resizes (bilinear) to the rotated un-scaled size, then un-rotates and un-flips; values stay in [0, 1].
        """
        expected = self.view_size(size)
        if probability.shape != expected:
            raise ValueError(f"view {self.name}: map has shape {probability.shape}, expected {expected}")
        probability = probability.astype(np.float32, copy=False)
        rotated = self.rotated_size(size)
        if rotated != probability.shape:
            image = Image.fromarray(np.ascontiguousarray(probability))
            probability = np.asarray(image.resize((rotated[1], rotated[0]), Image.Resampling.BILINEAR))
        return self.restore_orientation(probability, size)

    def restore_orientation(self, probability: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Map ``float32`` in this view's orientation at full scale (shape :meth:`rotated_size` of ``size``) ->
        ``float32`` (H, W) = ``size`` in the original frame: un-rotated and un-flipped, nothing resampled, so a
        binary map stays binary; values clipped to [0, 1]."""
        expected = self.rotated_size(size)
        if probability.shape != expected:
            raise ValueError(f"view {self.name}: full-scale map has shape {probability.shape}, expected {expected}")
        return np.clip(self._unorient(probability), 0.0, 1.0).astype(np.float32)

    # ------------------------------------------------------------ geometry
    def apply_points(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Points (N, 2) ``(x, y)`` in the original frame of ``size`` (H, W) -> (N, 2) ``float32`` in the view."""
        height, width = size
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2).copy()
        x, y = pts[:, 0].copy(), pts[:, 1].copy()
        if self.hflip:
            x = (width - 1) - x
        h, w = height, width
        for _ in range(self.k):  # one counter-clockwise quarter turn: (x, y) -> (y, W - 1 - x), W current width
            x, y = y, (w - 1) - x
            h, w = w, h
        th, tw = self.view_size(size)
        x = (x + 0.5) * tw / w - 0.5
        y = (y + 0.5) * th / h - 0.5
        return np.stack([x, y], axis=1).astype(np.float32)

    def invert_points(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Points (N, 2) ``(x, y)`` in the view -> (N, 2) ``float32`` in the original frame of ``size`` (H, W)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        h, w = self.rotated_size(size)
        th, tw = self.view_size(size)
        x = (pts[:, 0] + 0.5) * w / tw - 0.5
        y = (pts[:, 1] + 0.5) * h / th - 0.5
        for _ in range(self.k):  # one clockwise quarter turn: (x, y) -> (H - 1 - y, x), H current height
            x, y = (h - 1) - y, x
            h, w = w, h
        if self.hflip:
            x = (w - 1) - x
        return np.stack([x, y], axis=1).astype(np.float32)

    def apply_box(self, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Box ``(x0, y0, x1, y1)`` (pixel-centre corners) in the original frame -> ``float32`` (4,) in the view."""
        corners = np.asarray(box, dtype=np.float64).reshape(2, 2)
        moved = self.apply_points(corners, size)
        return np.concatenate([moved.min(axis=0), moved.max(axis=0)]).astype(np.float32)


def parse_view(name: str) -> View:
    """Build the :class:`View` named ``name`` (grammar in the module docstring); a bad name is an InputError."""
    if name == "identity":
        return View()
    if not name:
        raise InputError(f"view '': empty view name; use {VIEW_GRAMMAR}")
    hflip, k, scale = False, 0, 1.0
    for token in name.split("_"):
        if token == "hflip":  # H after R^k H^f equals R^(-k) H^(f+1)
            hflip, k = not hflip, (-k) % 4
        elif token == "vflip":  # a vertical flip is a horizontal flip followed by a half turn
            hflip, k = not hflip, (2 - k) % 4
        elif token in ("rot90", "rot180", "rot270"):
            k = (k + int(token[3:]) // 90) % 4
        elif match := _SCALE_TOKEN.match(token):
            factor = float(match.group(1))
            if factor <= 0:
                raise InputError(f"view '{name}': scale must be positive; use {VIEW_GRAMMAR}")
            scale *= factor
        else:
            raise InputError(f"view '{name}': unknown token '{token}'; a view name is {VIEW_GRAMMAR}")
    return View(name=name, hflip=hflip, k=k, scale=scale)
