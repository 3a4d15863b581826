"""The ``prepare`` stage: turn every configured source (a real dataset folder or the embedded demo) into the
layout the later stages read (:mod:`wssam.prepare.layout`): ``train/`` and ``test/<set>/``, each with its manifest.

Real images are copied byte for byte (extension kept), except those that reading had to convert (EXIF
orientation, 16-bit, CMYK: see :mod:`wssam.pixels`), which are written decoded as 8-bit RGB PNG; masks are written
as 0/255 PNG and sparse labels as S-COD 0/1/2 PNG, so the prepared sets hold only plain files. Where a training set
has GT but no sparse labels, they are simulated from GT (seeded per image). Everything is validated before
anything is written, the whole output is built in a temporary sibling folder and renamed into place at the end, so
an interrupted run leaves nothing that a rerun would trust. Conversions and empty or nearly empty labels are
reported once per kind and dataset (:mod:`wssam.prepare.report`).
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wssam.cli import progress
from wssam.io import read_gt, read_label_map, read_rgb, write_png
from wssam.prepare.config import SYNTHETIC, PrepareConfig
from wssam.prepare.datasets import RealDataset, scan_dataset
from wssam.prepare.demo import demo_samples
from wssam.prepare.layout import (
    MANIFEST_NAME,
    TRAIN_DIR,
    gt_file,
    image_file,
    sparse_file,
    test_folder,
    train_folder,
)
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.prepare.report import Findings, label_findings, mask_findings
from wssam.prepare.simulate import simulate_sparse
from wssam.staging import atomic_path, remove_temporaries, staged_folder


@dataclass(frozen=True)
class DatasetSummary:
    """What was prepared for one dataset (``role`` is ``train`` or ``test``); ``warnings``: one line per kind of
    conversion or empty label found (see :mod:`wssam.prepare.report`)."""

    name: str
    role: str
    source: str
    images: int
    usable: int
    sparse_kind: str
    sparse_source: str
    warnings: tuple[str, ...] = ()


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


def _simulate(mask: np.ndarray, config: PrepareConfig, dataset: str, name: str) -> np.ndarray:
    return simulate_sparse(
        mask,
        kind=config.sparse.kind,
        seed=derive_seed(config.seed, "sparse", dataset, name),
        stroke_width=config.sparse.stroke_width,
        points_per_class=config.sparse.points_per_class,
    )


def _write_synthetic(
    folder: Path, config: PrepareConfig, dataset: str, train: bool, findings: Findings, show_progress: bool
) -> list[dict[str, Any]]:
    """Generate the demo set ``dataset`` into ``folder``; returns the manifest rows."""
    demo = config.synthetic
    count = demo.train_images if train else demo.test_images
    count = min(count, config.max_images) if config.max_images > 0 else count
    samples = demo_samples(
        count=count,
        image_size=demo.image_size,
        two_object_fraction=demo.two_object_fraction,
        seed=derive_seed(config.seed, SYNTHETIC, dataset),
        prefix=dataset,
    )
    rows = []
    for sample in progress(samples, desc=f"prepare: {dataset}", total=count, enabled=show_progress):
        write_png(folder / image_file(sample.name), sample.image)
        labels = _simulate(sample.mask, config, dataset, sample.name) if train else None
        findings.add(sample.name, [*mask_findings(sample.mask), *(label_findings(labels) if train else [])])
        image = image_file(sample.name)
        rows.append(
            _write_labels(folder, config, sample.name, image, sample.mask.shape, sample.mask, labels, "simulated")
        )
    return rows


def _write_real(
    folder: Path, config: PrepareConfig, dataset: str, data: RealDataset, train: bool, show_progress: bool
) -> list[dict]:
    """Copy the validated dataset ``data`` into ``folder`` (simulating sparse labels where needed); manifest rows.

    Images that reading converted are written decoded (8-bit RGB PNG), the others copied byte for byte."""
    rows = []
    origin = "given" if data.sparse_kind else "simulated"
    for item in progress(data.items, desc=f"prepare: {dataset}", enabled=show_progress):
        if item.converted:
            image = image_file(item.name)
            write_png(folder / image, read_rgb(item.image))
        else:
            image = image_file(item.name, item.image.suffix.lower())
            with atomic_path(folder / image) as tmp:
                shutil.copyfile(item.image, tmp)
        mask = read_gt(item.gt) if item.gt is not None else None
        labels = None
        if train:
            given = item.sparse is not None
            labels = read_label_map(item.sparse) if given else _simulate(mask, config, dataset, item.name)
            if not given:
                data.findings.add(item.name, label_findings(labels))
        size = (item.height, item.width)
        rows.append(_write_labels(folder, config, item.name, image, size, mask, labels, origin, data.sparse_kind))
    return rows


def _write_labels(
    folder: Path,
    config: PrepareConfig,
    name: str,
    image: str,
    size: tuple[int, int],
    mask: np.ndarray | None,
    labels: np.ndarray | None,
    origin: str,
    given_kind: str | None = None,
) -> dict[str, Any]:
    """Write the GT ``mask`` (bool (H, W), or None) and the sparse ``labels`` (uint8 (H, W) S-COD, or None for a
    test set) of image ``name`` (size (H, W)) into ``folder``; returns its manifest row (``image`` is written)."""
    gt = ""
    if mask is not None:
        gt = gt_file(name)
        write_png(folder / gt, mask.astype(np.uint8) * 255)
    if labels is None:
        return manifest_row(name=name, image=image, size=size, gt=gt)
    kind = given_kind or config.sparse.kind
    sparse = sparse_file(name, kind)
    write_png(folder / sparse, labels)
    return manifest_row(name=name, image=image, size=size, gt=gt, sparse=sparse, labels=labels, sparse_kind=kind,
                        sparse_source=origin)  # fmt: skip


def _summary(name: str, role: str, source: str, rows: list[dict[str, Any]], findings: Findings) -> DatasetSummary:
    first = rows[0] if rows else {"sparse_kind": "", "sparse_source": ""}
    usable = sum(bool(row["usable"]) for row in rows)
    warnings = tuple(findings.lines(name, len(rows)))
    return DatasetSummary(name, role, source, len(rows), usable, first["sparse_kind"], first["sparse_source"], warnings)


def prepare(
    *,
    config: PrepareConfig,
    raw_dir: Path,
    output: Path,
    log: Callable[[str], None] = print,
    show_progress: bool = True,
) -> list[DatasetSummary]:
    """Validate every source, then write the prepared train set and test sets into ``output`` atomically.

    Real sources are paths relative to the working directory (the project root). Returns one summary per dataset,
    the training set first. ``show_progress``: progress bars on stderr.
    """
    remove_temporaries(output)
    for line in source_warnings(config, Path(raw_dir)):
        log(line)
    jobs = [(TRAIN_DIR, "train", config.train.source)]
    jobs += [(name, "test", source) for name, source in config.test_sets.items()]
    scanned: list[tuple[str, str, str, RealDataset | None]] = []
    for name, role, source in jobs:
        data = None
        if source != SYNTHETIC:
            train = role == "train"
            data = scan_dataset(
                Path(source), require_gt=not train, use_sparse=train, max_images=config.max_images,
                show_progress=show_progress,
            )  # fmt: skip
        scanned.append((name, role, source, data))
    summaries = []
    with staged_folder(Path(output)) as staging:
        for name, role, source, data in scanned:
            train = role == "train"
            folder = train_folder(staging) if train else test_folder(staging, name)
            folder.mkdir(parents=True)
            if data is None:
                findings = Findings()
                rows = _write_synthetic(folder, config, name, train, findings, show_progress)
            else:
                findings = data.findings
                rows = _write_real(folder, config, name, data, train, show_progress)
            write_manifest(folder / MANIFEST_NAME, pd.DataFrame(rows))
            summaries.append(_summary(name, role, source, rows, findings))
    return summaries
