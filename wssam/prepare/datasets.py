"""Real datasets on disk: discover the files, pair them by base name, validate them before anything is written.

A dataset is a folder with
- ``Imgs/``: the RGB images (any of :data:`wssam.io.IMAGE_SUFFIXES`, usually ``.jpg``);
- ``GT/``: binary masks, same base names (optional for training, required for test sets);
- ``Scribble/`` or ``Point/``: S-COD sparse label maps, same base names, values 0/1/2 (training only, optional
  when ``GT/`` exists: the prepare stage then simulates them).

Every file is read once here by the rules of :mod:`wssam.pixels` (images decoded, masks binarised, label maps
checked value by value), so a corrupt or unsupported file, a missing partner or a size mismatch stops the stage
with an :class:`~wssam.io.InputError` naming the file, before any output exists. What the reading converted (EXIF
orientation, 16-bit, CMYK, soft masks) and labels that are empty or nearly so are collected as findings
(:mod:`wssam.prepare.report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wssam.cli import progress
from wssam.io import InputError, decode_gt, decode_image, exif_orientation, list_images, read_label_map
from wssam.labels import check_label_map
from wssam.prepare.layout import GT_DIR, IMAGES_DIR, SPARSE_DIRS
from wssam.prepare.report import Findings, label_findings, mask_findings


@dataclass(frozen=True)
class DatasetItem:
    """One image of a real dataset with its partners (``None`` where the dataset has none) and its size as used
    (EXIF orientation applied). ``converted``: the image file is not plain 8-bit RGB/grey as stored, so it is
    written decoded (PNG) instead of copied."""

    name: str
    image: Path
    gt: Path | None
    sparse: Path | None
    height: int
    width: int
    converted: bool = False


@dataclass(frozen=True)
class RealDataset:
    """A validated dataset folder: ``sparse_kind`` is ``scribble``/``point`` when it ships sparse labels, else None.
    ``findings``: conversions applied and labels empty or nearly so, by kind."""

    root: Path
    sparse_kind: str | None
    items: tuple[DatasetItem, ...]
    findings: Findings = field(default_factory=Findings)


def _pair(images: dict[str, Path], partners: dict[str, Path], what: str, folder: Path) -> None:
    """Raise an InputError naming the first image without a partner or the first partner without an image."""
    for name, path in images.items():
        if name not in partners:
            raise InputError(f"{path}: no {what} file named '{name}.*' in {folder}; add it or remove the image")
    for name, path in partners.items():
        if name not in images:
            raise InputError(f"{path}: {what} file without an image '{name}.*' in Imgs/; add it or remove the file")


def _sparse_folder(root: Path) -> tuple[str, Path] | None:
    """(kind, folder) of the dataset's sparse labels, None when it has none; both folders present is an error."""
    present = [(kind, root / name) for kind, name in SPARSE_DIRS.items() if (root / name).is_dir()]
    if len(present) > 1:
        raise InputError(f"{root}: has both Scribble/ and Point/; keep only the sparse labels to train with")
    return present[0] if present else None


def _check_size(path: Path, shape: tuple[int, ...], image: Path, height: int, width: int) -> None:
    """A partner (GT or label map) of ``path`` must have the image's size as used; the message names EXIF
    orientation when one of the two files is turned by it and the sizes would match as stored."""
    if shape[:2] == (height, width):
        return
    turned = [(p, exif_orientation(p)) for p in (image, path) if exif_orientation(p) != 1]
    hint = "resize it to the image (nearest-neighbour for label maps)"
    if turned and shape[:2] == (width, height):
        names = " and ".join(f"{p.name} (EXIF orientation {value})" for p, value in turned)
        hint = (
            f"{names} is used as a viewer shows it, turned by its EXIF orientation tag; store both files upright "
            "(apply the rotation to the pixels and drop the tag) so that they line up"
        )
    raise InputError(f"{path}: size {shape[1]}x{shape[0]} differs from its image {image} ({width}x{height}); {hint}")


def scan_dataset(
    root: Path, *, require_gt: bool, use_sparse: bool, max_images: int = 0, show_progress: bool = False
) -> RealDataset:
    """Discover, pair and validate the dataset folder ``root``.

    ``require_gt``: a missing ``GT/`` folder is an error (test sets). ``use_sparse``: read ``Scribble/`` or
    ``Point/`` when present (training sets); without them and without GT the set cannot be used. ``max_images``
    > 0 keeps the first N images by name (pairing is still checked on the whole folder).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: dataset folder not found; put it under data/raw or fix the source in params.yaml")
    layout = f"a dataset folder holds {IMAGES_DIR}/, {GT_DIR}/ and Scribble/ or Point/ (README, Real data)"
    images = list_images(root / IMAGES_DIR, fix=layout)
    if not images:
        nested = " (sub-folders are not searched)" if any(p.is_dir() for p in (root / IMAGES_DIR).iterdir()) else ""
        raise InputError(f"{root / IMAGES_DIR}: no image files{nested}; add the dataset's images")
    gt_files: dict[str, Path] | None = None
    if (root / GT_DIR).is_dir():
        gt_files = list_images(root / GT_DIR)
        _pair(images, gt_files, "ground-truth", root / GT_DIR)
    elif require_gt:
        raise InputError(f"{root / GT_DIR}: folder not found; a test set needs ground-truth masks")
    sparse_kind: str | None = None
    sparse_files: dict[str, Path] | None = None
    found = _sparse_folder(root) if use_sparse else None
    if found is not None:
        sparse_kind, folder = found
        sparse_files = list_images(folder)
        _pair(images, sparse_files, f"{sparse_kind} label", folder)
    elif use_sparse and gt_files is None:
        raise InputError(f"{root}: has neither GT/ nor Scribble/ or Point/; training needs one of them")
    names = sorted(images)[:max_images] if max_images > 0 else sorted(images)
    items, findings = [], Findings()
    for name in progress(names, desc=f"prepare: checking {root.name}", enabled=show_progress):
        decoded = decode_image(images[name])
        height, width = decoded.pixels.shape[:2]
        findings.add(name, decoded.notes)
        gt = gt_files[name] if gt_files is not None else None
        sparse = sparse_files[name] if sparse_files is not None else None
        if gt is not None:
            mask = decode_gt(gt)
            _check_size(gt, mask.pixels.shape, images[name], height, width)
            findings.add(name, [*mask.notes, *mask_findings(mask.pixels)])
        if sparse is not None:
            labels = check_label_map(read_label_map(sparse), sparse)
            _check_size(sparse, labels.shape, images[name], height, width)
            findings.add(name, label_findings(labels))
        items.append(DatasetItem(name, images[name], gt, sparse, height, width, converted=bool(decoded.notes)))
    return RealDataset(root=root, sparse_kind=sparse_kind, items=tuple(items), findings=findings)
