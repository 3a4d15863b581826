"""The manifest: one table per prepared dataset, one row per image, written by ``prepare``, read by later stages.

Columns (paths are stored relative to the manifest's own folder, so a prepared dataset can be moved whole):

=============== ======= ===========================================================================
column          type    meaning
=============== ======= ===========================================================================
name            str     base name shared by the image, its GT and its sparse labels
image           str     image file (RGB)
gt              str     ground-truth mask file, empty when the dataset has none
sparse          str     sparse label map (S-COD 0/1/2 PNG), empty for test sets
height, width   int     image size in pixels
sparse_kind     str     ``scribble`` or ``point`` (empty without sparse labels)
sparse_source   str     ``given`` (read from the dataset) or ``simulated`` (drawn from GT, seeded)
fg_pixels       int     number of pixels labelled foreground (1)
bg_pixels       int     number of pixels labelled background (2)
usable          bool    False when the image cannot be pseudo-labelled (no foreground stroke)
note            str     why an image is not usable (empty otherwise)
=============== ======= ===========================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wssam.io import InputError, read_table, write_table
from wssam.labels import background_mask, foreground_mask

MANIFEST_COLUMNS = (
    "name",
    "image",
    "gt",
    "sparse",
    "height",
    "width",
    "sparse_kind",
    "sparse_source",
    "fg_pixels",
    "bg_pixels",
    "usable",
    "note",
)
PATH_COLUMNS = ("image", "gt", "sparse")
NOT_USABLE_NOTE = "no foreground stroke: cannot be pseudo-labelled, skipped by later stages"


def manifest_row(
    *,
    name: str,
    image: str,
    size: tuple[int, int],
    gt: str = "",
    sparse: str = "",
    labels: np.ndarray | None = None,
    sparse_kind: str = "",
    sparse_source: str = "",
) -> dict[str, Any]:
    """One manifest row. Paths are relative to the manifest's folder (see :mod:`wssam.prepare.layout`), ``size`` is
    (H, W) and ``labels`` the S-COD sparse map ``uint8`` (H, W) (None for test sets: then the image is usable)."""
    fg = int(foreground_mask(labels).sum()) if labels is not None else 0
    bg = int(background_mask(labels).sum()) if labels is not None else 0
    usable = labels is None or fg > 0
    return {
        "name": name, "image": image, "gt": gt, "sparse": sparse, "height": int(size[0]), "width": int(size[1]),
        "sparse_kind": sparse_kind, "sparse_source": sparse_source, "fg_pixels": fg, "bg_pixels": bg,
        "usable": usable, "note": "" if usable else NOT_USABLE_NOTE,
    }  # fmt: skip


def write_manifest(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write ``table`` (paths already relative to ``path``'s folder) with the columns in canonical order."""
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"manifest table lacks columns {missing}")
    write_table(path, table.loc[:, list(MANIFEST_COLUMNS)])


def read_manifest(path: str | os.PathLike[str], *, usable_only: bool = False) -> pd.DataFrame:
    """Read a manifest and resolve its path columns to :class:`~pathlib.Path` objects (``None`` where empty).

    With ``usable_only`` the rows marked not usable are dropped. An empty manifest is an InputError.
    """
    path = Path(path)
    table = read_table(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: not a wssam manifest (missing columns {missing}); rerun the prepare stage")
    table["name"] = table["name"].astype(str)
    for column in ("sparse_kind", "sparse_source", "note"):
        table[column] = table[column].astype(object).fillna("").astype(str)
    table["usable"] = table["usable"].astype(str).str.lower().isin(["true", "1"])
    for column in PATH_COLUMNS:
        table[column] = [path.parent / value if isinstance(value, str) and value else None for value in table[column]]
    if usable_only:
        table = table[table["usable"]].reset_index(drop=True)
    if table.empty:
        raise InputError(f"{path}: the manifest lists no usable image; check the dataset given to prepare")
    return table
