"""The prepare stage: turn every configured source (a real dataset folder or the embedded demo) into the layout
the later stages read.

Output (``output`` is the stage's out, e.g. ``data/prepared``)::

    train/Imgs/, train/GT/ (when known), train/Scribble/ or train/Point/, train/manifest.csv
    test/<set>/Imgs/, test/<set>/GT/, test/<set>/manifest.csv

Real images are copied byte for byte (extension kept); masks are written as 0/255 PNG and sparse labels as S-COD
0/1/2 PNG. Where a training set has GT but no sparse labels, they are simulated from GT (seeded per image).
Everything is validated before anything is written, the whole output is built in a temporary sibling folder and
renamed into place at the end, so an interrupted run leaves nothing that a rerun would trust.
"""

from __future__ import annotations

import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wssam.config import bounds, choices
from wssam.data.datasets import GT_DIR, IMAGES_DIR, SPARSE_DIRS, RealDataset, scan_dataset
from wssam.data.demo import demo_samples
from wssam.data.manifest import MANIFEST_NAME, write_manifest
from wssam.data.simulate import SPARSE_KINDS, simulate_sparse
from wssam.io import InputError, atomic_path, read_gt, read_label_map, staged_folder, write_png
from wssam.labels import BACKGROUND, FOREGROUND

SYNTHETIC = "synthetic"
SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TrainSourceConfig:
    """``source``: ``synthetic`` or a dataset folder (relative to the project root, under data/raw)."""

    source: str = SYNTHETIC


@dataclass(frozen=True)
class SparseConfig:
    """How sparse labels are simulated from GT where a training set has none."""

    kind: str = field(default="scribble", metadata=choices(*SPARSE_KINDS))
    points_per_class: int = field(default=1, metadata=bounds(ge=1))
    stroke_width: int = field(default=3, metadata=bounds(ge=1))


@dataclass(frozen=True)
class SyntheticConfig:
    """The embedded demo: square images of ``image_size`` pixels."""

    image_size: int = field(default=128, metadata=bounds(ge=32))
    train_images: int = field(default=48, metadata=bounds(ge=1))
    test_images: int = field(default=24, metadata=bounds(ge=1))
    two_object_fraction: float = field(default=0.25, metadata=bounds(ge=0, le=1))


@dataclass(frozen=True)
class PrepareConfig:
    """The ``prepare`` section of params.yaml. ``test_sets`` maps a set name to its source."""

    seed: int = field(default=0, metadata=bounds(ge=0))
    max_images: int = field(default=0, metadata=bounds(ge=0))
    train: TrainSourceConfig = field(default_factory=TrainSourceConfig)
    test_sets: Any = field(default_factory=lambda: {"demo_test": SYNTHETIC})
    sparse: SparseConfig = field(default_factory=SparseConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        sets = self.test_sets
        if not isinstance(sets, dict) or not sets:
            raise InputError("parameter 'prepare.test_sets' must map at least one set name to a source")
        for name, source in sets.items():
            if not isinstance(name, str) or not SET_NAME.match(name):
                raise InputError(
                    f"parameter 'prepare.test_sets.{name}': a set name may hold letters, digits, '_', '-', '.'"
                )
            if not isinstance(source, str) or not source:
                raise InputError(f"parameter 'prepare.test_sets.{name}' must be 'synthetic' or a folder path")
        if not self.train.source:
            raise InputError("parameter 'prepare.train.source' must be 'synthetic' or a folder path")


@dataclass(frozen=True)
class DatasetSummary:
    """What was prepared for one dataset (``role`` is ``train`` or ``test``)."""

    name: str
    role: str
    source: str
    images: int
    usable: int
    sparse_kind: str
    sparse_source: str


def derive_seed(seed: int, *labels: str) -> int:
    """A stable 32-bit seed derived from ``seed`` and text labels (dataset, image): independent streams."""
    entropy = [seed, *(zlib.crc32(label.encode("utf-8")) for label in labels)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def source_warnings(config: PrepareConfig, raw_dir: Path) -> list[str]:
    """One line for each real source outside ``raw_dir`` (DVC tracks only ``raw_dir``)."""
    sources = [("prepare.train.source", config.train.source)]
    sources += [(f"prepare.test_sets.{name}", source) for name, source in config.test_sets.items()]
    raw = Path(raw_dir).resolve()
    return [
        f"warning: {key} = {source} lies outside {raw_dir}; DVC will not see changes to it"
        for key, source in sources
        if source != SYNTHETIC and not Path(source).resolve().is_relative_to(raw)
    ]


def _row(
    name: str,
    image: str,
    gt: str,
    sparse: str,
    shape: tuple[int, int],
    labels: np.ndarray | None,
    kind: str,
    origin: str,
) -> dict[str, Any]:
    """One manifest row; ``labels`` is the sparse map (None for test sets)."""
    fg = int((labels == FOREGROUND).sum()) if labels is not None else 0
    bg = int((labels == BACKGROUND).sum()) if labels is not None else 0
    usable = labels is None or fg > 0
    note = "" if usable else "no foreground stroke: cannot be pseudo-labelled, skipped by later stages"
    return {
        "name": name, "image": image, "gt": gt, "sparse": sparse, "height": shape[0], "width": shape[1],
        "sparse_kind": kind, "sparse_source": origin, "fg_pixels": fg, "bg_pixels": bg, "usable": usable, "note": note,
    }  # fmt: skip


def _simulate(mask: np.ndarray, config: PrepareConfig, dataset: str, name: str) -> np.ndarray:
    return simulate_sparse(
        mask,
        kind=config.sparse.kind,
        seed=derive_seed(config.seed, "sparse", dataset, name),
        stroke_width=config.sparse.stroke_width,
        points_per_class=config.sparse.points_per_class,
    )


def _write_synthetic(folder: Path, config: PrepareConfig, dataset: str, train: bool) -> list[dict[str, Any]]:
    """Generate the demo set ``dataset`` into ``folder``; returns the manifest rows."""
    demo = config.synthetic
    count = demo.train_images if train else demo.test_images
    count = min(count, config.max_images) if config.max_images > 0 else count
    kind = config.sparse.kind
    rows = []
    samples = demo_samples(
        count=count,
        image_size=demo.image_size,
        two_object_fraction=demo.two_object_fraction,
        seed=derive_seed(config.seed, SYNTHETIC, dataset),
        prefix=dataset,
    )
    for sample in samples:
        image, gt = f"{IMAGES_DIR}/{sample.name}.png", f"{GT_DIR}/{sample.name}.png"
        write_png(folder / image, sample.image)
        write_png(folder / gt, sample.mask.astype(np.uint8) * 255)
        labels, sparse = None, ""
        if train:
            labels = _simulate(sample.mask, config, dataset, sample.name)
            sparse = f"{SPARSE_DIRS[kind]}/{sample.name}.png"
            write_png(folder / sparse, labels)
        rows.append(_row(sample.name, image, gt, sparse, sample.mask.shape, labels, kind if train else "",
                         "simulated" if train else ""))  # fmt: skip
    return rows


def _write_real(folder: Path, config: PrepareConfig, dataset: str, data: RealDataset, train: bool) -> list[dict]:
    """Copy the validated dataset ``data`` into ``folder`` (simulating sparse labels where needed); manifest rows."""
    rows = []
    kind = (data.sparse_kind or config.sparse.kind) if train else ""
    origin = ("given" if data.sparse_kind else "simulated") if train else ""
    for item in data.items:
        image = f"{IMAGES_DIR}/{item.name}{item.image.suffix.lower()}"
        with atomic_path(folder / image) as tmp:
            shutil.copyfile(item.image, tmp)
        gt, sparse, labels = "", "", None
        mask = read_gt(item.gt) if item.gt is not None else None
        if mask is not None:
            gt = f"{GT_DIR}/{item.name}.png"
            write_png(folder / gt, mask.astype(np.uint8) * 255)
        if train:
            labels = (
                read_label_map(item.sparse) if item.sparse is not None else _simulate(mask, config, dataset, item.name)
            )
            sparse = f"{SPARSE_DIRS[kind]}/{item.name}.png"
            write_png(folder / sparse, labels)
        rows.append(_row(item.name, image, gt, sparse, (item.height, item.width), labels, kind, origin))
    return rows


def _summary(name: str, role: str, source: str, rows: list[dict[str, Any]]) -> DatasetSummary:
    first = rows[0] if rows else {"sparse_kind": "", "sparse_source": ""}
    usable = sum(bool(row["usable"]) for row in rows)
    return DatasetSummary(name, role, source, len(rows), usable, first["sparse_kind"], first["sparse_source"])


def prepare_datasets(
    *, config: PrepareConfig, raw_dir: Path, output: Path, log: Callable[[str], None] = print
) -> list[DatasetSummary]:
    """Validate every source, then write the prepared train set and test sets into ``output`` atomically.

    Real sources are paths relative to the working directory (the project root). Returns one summary per dataset,
    the training set first.
    """
    for line in source_warnings(config, Path(raw_dir)):
        log(line)
    jobs = [("train", "train", config.train.source)]
    jobs += [(name, "test", source) for name, source in config.test_sets.items()]
    scanned: list[tuple[str, str, str, RealDataset | None]] = []
    for name, role, source in jobs:
        data = None
        if source != SYNTHETIC:
            train = role == "train"
            data = scan_dataset(Path(source), require_gt=not train, use_sparse=train, max_images=config.max_images)
        scanned.append((name, role, source, data))
    summaries = []
    with staged_folder(Path(output)) as staging:
        for name, role, source, data in scanned:
            folder = staging / "train" if role == "train" else staging / "test" / name
            folder.mkdir(parents=True)
            train = role == "train"
            if data is None:
                rows = _write_synthetic(folder, config, name, train)
            else:
                rows = _write_real(folder, config, name, data, train)
            write_manifest(folder / MANIFEST_NAME, pd.DataFrame(rows))
            summaries.append(_summary(name, role, source, rows))
    return summaries
