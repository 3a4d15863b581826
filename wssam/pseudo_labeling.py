"""Pseudo labels for one augmentation view: for every usable training image, prompts are drawn from its sparse
labels in the ORIGINAL frame (so all views share the same points), moved into the view together with the image
and the sparse map, answered by the labeler, and the probability map is brought back to the original frame and
size and written as ``<output>/<name>.png`` (8-bit, round(p * 255)).

The folder is built in a temporary sibling and renamed into place at the end, so an interrupted run never leaves
a half folder that a rerun (or DVC) would trust.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from wssam.config import choices
from wssam.data.manifest import read_manifest
from wssam.io import InputError, read_label_map, read_rgb, staged_folder, write_probability
from wssam.labelers import LABELERS, Labeler, build_labeler
from wssam.labelers.base import checked_probability
from wssam.labelers.random_walker import RandomWalkerConfig
from wssam.labelers.sam_setup import SamConfig, check_checkpoint
from wssam.labels import check_label_map
from wssam.prompts import PromptConfig, Prompts, prompts_from_sparse, prompts_in_view
from wssam.views import View, parse_view

DEFAULT_VIEWS = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "hflip",
    "hflip_rot90",
    "hflip_rot180",
    "hflip_rot270",
    "scale0.5",
    "hflip_scale0.5",
    "rot90_scale0.5",
    "hflip_rot90_scale0.5",
)


@dataclass(frozen=True)
class PseudoLabelConfig:
    """The ``pseudo_label`` section of params.yaml."""

    labeler: str = field(default="random_walker", metadata=choices(*LABELERS))
    seed: int = 0
    views: tuple[str, ...] = DEFAULT_VIEWS
    prompts: PromptConfig = field(default_factory=PromptConfig)
    random_walker: RandomWalkerConfig = field(default_factory=RandomWalkerConfig)
    sam: SamConfig = field(default_factory=SamConfig)


@dataclass(frozen=True)
class ViewSummary:
    """What :func:`pseudo_label_view` did: the view, how many maps it wrote where, and how long it took."""

    view: str
    images: int
    output: Path
    seconds: float


def validate_config(config: PseudoLabelConfig, view_name: str) -> View:
    """Check everything cheap before heavy work: every listed view parses, ``view_name`` parses, and the SAM
    checkpoint exists when the labeler is SAM. Returns the parsed view."""
    for name in config.views:
        parse_view(name)
    if config.labeler == "sam":
        check_checkpoint(config.sam.model_type, config.sam.checkpoint)
    return parse_view(view_name)


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


def label_in_view(labeler: Labeler, image: np.ndarray, prompts: Prompts, view: View) -> np.ndarray:
    """Run ``labeler`` on ``image`` and ``prompts`` (original frame) inside ``view``; return the probability map
    ``float32`` (H, W) in [0, 1] brought back to the original frame and size."""
    view_image = view.apply_image(image)
    view_prompts = prompts_in_view(prompts, view)
    probability = labeler.predict(labeler.prepare(view_image), view_prompts)
    probability = checked_probability(probability, view_image.shape[:2], f"{labeler.name} in view {view.name}")
    return view.invert_map(probability, image.shape[:2])


def pseudo_label_view(
    *,
    manifest: str | os.PathLike[str],
    view: str,
    output: str | os.PathLike[str],
    config: PseudoLabelConfig,
    labeler: Labeler | None = None,
    progress: bool = True,
) -> ViewSummary:
    """Write one 8-bit probability map per usable manifest row into ``output`` for the view named ``view``.

    ``labeler`` overrides the one ``config`` names (tests inject a tiny SAM this way).
    """
    parsed = validate_config(config, view)
    table = read_manifest(manifest, usable_only=True)
    labeler = labeler or build_labeler(config)
    start = time.perf_counter()
    rows = list(table.itertuples(index=False))
    with staged_folder(output) as staging:
        for row in tqdm(rows, desc=f"pseudo_label {view}", unit="img", disable=not progress):
            image, prompts = load_example(row, seed=config.seed, config=config.prompts)
            write_probability(staging / f"{row.name}.png", label_in_view(labeler, image, prompts, parsed))
    return ViewSummary(view=view, images=len(rows), output=Path(output), seconds=time.perf_counter() - start)
