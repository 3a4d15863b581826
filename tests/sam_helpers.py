"""Helpers for the pseudo-label tests: a tiny SAM checkpoint, synthetic images with scribbles, and a tiny prepared
training set written with the project's manifest writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from wssam.io import write_png
from wssam.labels import BACKGROUND, FOREGROUND, UNLABELLED
from wssam.prepare.layout import MANIFEST_NAME, image_file, sparse_file
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.pseudo_label.labelers.tiny_sam import build_tiny_sam


def save_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a tiny SAM's state dict (random weights from ``seed``) to ``path``, as the official files are."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_tiny_sam().state_dict(), path)
    return path


def synthetic_example(height: int = 48, width: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured RGB image ``uint8`` (H, W, 3) with a bright ellipse, and an S-COD scribble map (0/1/2) with a
    horizontal foreground stroke inside the ellipse and a background stroke along the left and top margins."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    cy, cx = height * 0.55, width * 0.45
    inside = ((ys - cy) / (height * 0.28)) ** 2 + ((xs - cx) / (width * 0.25)) ** 2 <= 1.0
    image = np.where(inside[..., None], [200, 170, 60], [50, 90, 120]).astype(np.float64)
    image += rng.normal(0, 6, size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    sparse = np.zeros((height, width), dtype=np.uint8)
    row = int(cy)
    sparse[row - 1 : row + 1, int(cx - width * 0.15) : int(cx + width * 0.15)] = 1
    sparse[3:5, 3 : width - 3] = 2
    sparse[3 : height - 3, 3:5] = 2
    return image, sparse


def write_training_set(root: Path, count: int = 3, *, kind: str = "scribble", unusable: int = 0) -> Path:
    """Write ``count`` synthetic images (sizes differ, not square) + sparse maps and a manifest under ``root``;
    the last ``unusable`` rows have no foreground label and are marked not usable. Returns the manifest path."""
    rows = []
    for index in range(count):
        height, width = 40 + 8 * index, 64 + 4 * index
        image, sparse = synthetic_example(height, width, seed=index)
        if index >= count - unusable:
            sparse[sparse == FOREGROUND] = UNLABELLED
        if kind == "point":
            points = np.zeros_like(sparse)
            for value in (FOREGROUND, BACKGROUND):
                found = np.argwhere(sparse == value)
                if len(found):
                    points[tuple(found[len(found) // 2])] = value
            sparse = points
        name = f"img{index:02d}"
        row = manifest_row(name=name, image=image_file(name), size=(height, width), sparse=sparse_file(name, kind),
                           labels=sparse, sparse_kind=kind, sparse_source="simulated")  # fmt: skip
        write_png(root / row["image"], image)
        write_png(root / row["sparse"], sparse)
        rows.append(row)
    manifest = root / MANIFEST_NAME
    write_manifest(manifest, pd.DataFrame(rows))
    return manifest
