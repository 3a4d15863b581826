"""The training set: kept images with their soft pseudo labels, entropy weights and scribbles.

Inputs (see the contract): the train manifest (usable rows), ``<scored>/selection.csv`` (``name``, ``kept``, ...),
``<scored>/labels/<name>.png`` (8-bit pseudo-label probability) and ``<scored>/weights/<name>.png`` (8-bit pixel
weight), all in the original image frame and size. Only images with ``kept`` true are used.

Randomness is a pure function of (seed, epoch, index): the order of an epoch and the augmentation of each image are
drawn from generators seeded with those numbers, so an interrupted run resumed at an epoch boundary sees exactly the
data an uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from wssam.io import InputError, read_image_size, read_label_map, read_probability, read_rgb, read_table
from wssam.labels import check_label_map
from wssam.prepare.manifest import read_manifest
from wssam.score.layout import SELECTION_FILE, label_path, weight_path
from wssam.train.augment import Sample, augment, resize
from wssam.train.config import AugmentConfig


@dataclass(frozen=True)
class Record:
    """Files of one kept training image; ``height`` x ``width`` is the original size of all four."""

    name: str
    image: Path
    sparse: Path
    label: Path
    weight: Path
    height: int
    width: int


def _kept_flags(selection: pd.DataFrame, path: Path) -> pd.Series:
    for column in ("name", "kept"):
        if column not in selection.columns:
            raise InputError(f"{path}: column '{column}' is missing; rerun the score stage")
    return selection["kept"].astype(str).str.lower().isin(["true", "1"])


def load_records(manifest: str | os.PathLike[str], scored_dir: str | os.PathLike[str]) -> list[Record]:
    """The kept training images, sorted by name, after checking every file they need exists with the right size.

    Raises :class:`InputError` when the selection is missing or names an image the manifest lacks, when a pseudo
    label or weight file is missing or its size differs from the image's, or when no image is kept.
    """
    scored_dir = Path(scored_dir)
    selection_path = scored_dir / SELECTION_FILE
    selection = read_table(selection_path)
    kept_names = sorted(selection.loc[_kept_flags(selection, selection_path), "name"].astype(str))
    if not kept_names:
        raise InputError(
            f"{selection_path}: no image is kept for training; raise score.tau (or score.keep_fraction) in params.yaml"
        )
    rows = read_manifest(manifest, usable_only=True).set_index("name")
    records = []
    for name in kept_names:
        if name not in rows.index:
            raise InputError(
                f"{selection_path}: kept image '{name}' is not a usable row of {manifest}; rerun the score stage"
            )
        row = rows.loc[name]
        if row["sparse"] is None:
            raise InputError(f"{manifest}: image '{name}' has no sparse label file; rerun the prepare stage")
        record = Record(
            name=name,
            image=row["image"],
            sparse=row["sparse"],
            label=label_path(scored_dir, name),
            weight=weight_path(scored_dir, name),
            height=int(row["height"]),
            width=int(row["width"]),
        )
        for path in (record.label, record.weight):
            size = read_image_size(path, fix="rerun the score stage")
            if size != (record.height, record.width):
                raise InputError(
                    f"{path}: size {size[0]}x{size[1]} (HxW) differs from the image's {record.height}x{record.width};"
                    " rerun the pseudo_label and score stages"
                )
        records.append(record)
    return records


def data_fingerprint(records: list[Record]) -> str:
    """SHA-256 over the kept names and the bytes of everything training reads of them (image, sparse labels,
    pseudo label, weight): equal data -> equal string, so a run never resumes on changed inputs."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.name):
        digest.update(record.name.encode() + b"\0")
        for path in (record.image, record.sparse, record.label, record.weight):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def split_names(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split sorted ``names`` into (train, validation) by a seeded permutation; both lists come back sorted.

    Validation gets ``round(n * val_fraction)`` names, at least 1 when ``val_fraction > 0`` and ``n >= 2``;
    training always keeps at least one.
    """
    names = sorted(names)
    n_val = round(len(names) * val_fraction)
    if val_fraction > 0 and len(names) >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, len(names) - 1)
    order = np.random.default_rng(seed).permutation(len(names))
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


def epoch_batches(n_items: int, batch_size: int, *, seed: int, epoch: int, min_last: int = 2) -> list[list[int]]:
    """Index batches of one epoch: a permutation drawn from (seed, epoch), cut into batches of ``batch_size``.

    A last batch of fewer than ``min_last`` items is merged into the one before (batch norm cannot train on one
    image; under DDP each process needs 2, so ``min_last`` is twice the process count).
    """
    order = np.random.default_rng([seed, epoch]).permutation(n_items).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n_items, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min_last:
        batches[-2].extend(batches.pop())
    return batches


def load_sample(record: Record, *, entropy_weights: bool) -> Sample:
    """Read the four maps of ``record`` at the original size (see :mod:`wssam.train.augment` for the layout). The
    weight of the pseudo-label loss is the entropy weight map, or 1 everywhere without ``entropy_weights``
    (``train.loss.entropy_weighting`` false); either way the augmentation sets it to 0 where a rotation brings in
    pixels from outside the image."""
    image = torch.from_numpy(read_rgb(record.image)).permute(2, 0, 1).float() / 255.0
    sparse = check_label_map(read_label_map(record.sparse), record.sparse)
    if image.shape[-2:] != (record.height, record.width) or sparse.shape != (record.height, record.width):
        raise InputError(
            f"{record.image}: image {tuple(image.shape[-2:])} or sparse map {sparse.shape} does not match the"
            f" manifest size {record.height}x{record.width}; rerun the prepare stage"
        )
    return Sample(
        image=image,
        target=torch.from_numpy(read_probability(record.label))[None],
        weight=torch.from_numpy(read_probability(record.weight))[None]
        if entropy_weights
        else torch.ones((1, record.height, record.width), dtype=torch.float32),
        sparse=torch.from_numpy(sparse)[None],
    )


class TrainingImages(Dataset):
    """Samples resized (validation) or augmented (training) to ``size`` x ``size``.

    Item ``i`` is a dict with ``image`` (3, S, S) in [0, 1], ``target`` and ``weight`` (1, S, S) float32 and
    ``sparse`` (1, S, S) int64; ``weight`` is the pseudo-label loss's pixel weight (see :func:`load_sample`). With
    ``augment_config`` the augmentation of item ``i`` in epoch ``e`` is drawn from a generator seeded with
    ``(seed, e, i)``; call :meth:`set_epoch` before each epoch. Without it (validation) the items never change, so
    each is decoded and resized once and kept (about 21 bytes per pixel of S x S).
    """

    def __init__(
        self,
        records: list[Record],
        size: int,
        augment_config: AugmentConfig | None,
        seed: int,
        *,
        entropy_weights: bool,
    ) -> None:
        self.records = records
        self.entropy_weights = entropy_weights
        self.size = size
        self.augment_config = augment_config
        self.seed = seed
        self.epoch = 0
        self._kept: dict[int, dict[str, torch.Tensor]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.augment_config is None:
            if index not in self._kept:
                self._kept[index] = _item(resize(self._load(index), self.size))
            kept = self._kept[index]
            return {**kept, "sparse": kept["sparse"].long()}
        rng = np.random.default_rng([self.seed, self.epoch, index])
        item = _item(augment(self._load(index), self.augment_config, self.size, rng))
        return {**item, "sparse": item["sparse"].long()}

    def _load(self, index: int) -> Sample:
        return load_sample(self.records[index], entropy_weights=self.entropy_weights)


def _item(sample: Sample) -> dict[str, torch.Tensor]:
    """A sample as a dataset item, the sparse labels still in their compact ``uint8``."""
    return {
        "image": sample.image,
        "target": sample.target.clamp(0.0, 1.0),
        "weight": sample.weight.clamp(0.0, 1.0),
        "sparse": sample.sparse,
    }
