"""The ``pseudo_label`` stage for one augmentation view: for every usable training image, prompts are drawn from
its sparse labels in the ORIGINAL frame (so all views share the same points), moved into the view together with the
image and the sparse map, answered by the labeler, and the probability map is brought back to the original frame
and size and written as ``<output>/<name>.png`` (8-bit, round(p * 255); see :mod:`wssam.pseudo_label.layout`).

The folder is built in a temporary sibling and renamed into place at the end, so an interrupted run never leaves
a half folder that a rerun (or DVC) would trust.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wssam.cli import progress as progress_bar
from wssam.io import InputError, read_label_map, read_rgb, remove_temporaries, staged_folder, write_probability
from wssam.labels import check_label_map
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.config import PromptConfig, PseudoLabelConfig
from wssam.pseudo_label.labelers import Labeler, build_labeler
from wssam.pseudo_label.labelers.sam_setup import check_checkpoint
from wssam.pseudo_label.layout import view_map_file
from wssam.pseudo_label.prompts import Prompts, prompts_from_sparse
from wssam.pseudo_label.views import View, parse_view


@dataclass(frozen=True)
class ViewSummary:
    """What :func:`pseudo_label` did: the view, how many maps it wrote where, and how long it took."""

    view: str
    images: int
    output: Path
    seconds: float


def check_inputs(config: PseudoLabelConfig, view_name: str, labeler_dir: str | os.PathLike[str]) -> View:
    """Check what is cheap before heavy work: ``view_name`` parses, and the SAM checkpoint exists in
    ``labeler_dir`` when the labeler is SAM. Returns the parsed view."""
    view = parse_view(view_name)
    if config.labeler == "sam":
        check_checkpoint(config.sam.model_type, Path(labeler_dir) / config.sam.checkpoint)
    return view


def load_example(row: Any, *, seed: int, config: PromptConfig) -> tuple[np.ndarray, Prompts]:
    """Read one manifest row: the RGB image ``uint8`` (H, W, 3) and its prompts in the original frame."""
    if row.sparse is None:
        raise InputError(f"image {row.name}: the manifest gives no sparse label file; pseudo_label needs one")
    image = read_rgb(row.image)
    sparse = check_label_map(read_label_map(row.sparse), row.sparse)
    if sparse.shape != image.shape[:2]:
        raise InputError(
            f"{row.sparse}: sparse map is {sparse.shape[1]}x{sparse.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; they must have the same size"
        )
    kind = row.sparse_kind or "scribble"
    return image, prompts_from_sparse(sparse, kind=kind, name=row.name, seed=seed, config=config)


def pseudo_label(
    *,
    manifest: str | os.PathLike[str],
    view: str,
    labeler_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: PseudoLabelConfig,
    labeler: Labeler | None = None,
    progress: bool = True,
) -> ViewSummary:
    """Write one 8-bit probability map per usable manifest row into ``output`` for the view named ``view``.

    ``labeler_dir`` holds the labeler's own files (SAM: ``config.sam.checkpoint``). ``labeler`` overrides the one
    ``config`` names (tests inject a tiny SAM this way).
    """
    remove_temporaries(output)
    parsed = check_inputs(config, view, labeler_dir)
    table = read_manifest(manifest, usable_only=True)
    labeler = labeler or build_labeler(config, labeler_dir)
    labeler.check_images(table)
    start = time.perf_counter()
    rows = list(table.itertuples(index=False))
    with staged_folder(output) as staging:
        for row in progress_bar(rows, desc=f"pseudo_label {view}", enabled=progress):
            image, prompts = load_example(row, seed=config.seed, config=config.prompts)
            write_probability(view_map_file(staging, row.name), labeler.map_in_view(row.name, image, prompts, parsed))
    return ViewSummary(view=view, images=len(rows), output=Path(output), seconds=time.perf_counter() - start)
