"""The ``score`` stage: fuse each image's views, weight its pixels, select the certain images, and measure the
pseudo labels against ground truth where it exists.

Inputs: the training manifest (usable rows only) and, per view ``v`` and image ``name``, the 8-bit probability map
``<views_dir>/<v>/<name>.png`` in the original image frame and size (:mod:`wssam.pseudo_label.layout`).

Outputs, in ``<output>/`` (written into a temporary sibling folder and renamed into place at the end; names in
:mod:`wssam.score.layout`):

- ``labels/<name>.png``: fused pseudo label, 8-bit probability (round(p * 255));
- ``weights/<name>.png``: pixel weight 1 - H(p), 8-bit;
- ``selection.csv``: name, mean_entropy, kept and, where GT exists, iou (fused map binarised at 0.5), mae, and
  ``iou_<view>`` per view;
- ``views.csv`` (only with GT): view, mean_iou: each view's mean IoU over the images, beside the fused one.

and a metrics JSON of headline figures (see :func:`summarise`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wssam.cli import progress as progress_bar
from wssam.io import (
    InputError,
    probability_to_uint8,
    read_gt,
    read_image_size,
    read_probability,
    write_json,
    write_png,
    write_table,
)
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.layout import view_map_path
from wssam.score.config import ScoreConfig
from wssam.score.entropy import image_entropy, pixel_weights
from wssam.score.fusion import fuse_views
from wssam.score.layout import SELECTION_FILE, VIEWS_FILE, label_path, weight_path
from wssam.score.quality import binarise, iou, mae, rank_correlation
from wssam.score.selection import select_images
from wssam.staging import remove_temporaries, staged_outputs


def check_view_maps(manifest: pd.DataFrame, views_dir: Path, views: Sequence[str]) -> None:
    """Check, from the PNG headers only, that every usable image has every view's map at the image's size."""
    for row in manifest.itertuples(index=False):
        for view in views:
            path = view_map_path(views_dir, view, row.name)
            rerun = f"rerun the view stage: dvc repro pseudo_label@{view}"
            if not path.is_file():
                raise InputError(f"{path}: view map of image '{row.name}' is missing; {rerun}")
            height, width = read_image_size(path, fix=rerun)
            if (height, width) != (int(row.height), int(row.width)):
                raise InputError(
                    f"{path}: view map is {width}x{height} (WxH) but image '{row.name}' is "
                    f"{int(row.width)}x{int(row.height)}; {rerun}"
                )


def score_image(maps: Sequence[np.ndarray], gt: np.ndarray | None, views: Sequence[str]) -> dict[str, Any]:
    """Fuse one image's view maps and measure them.

    Args:
        maps: the views' probability maps, ``float32`` (H, W) in [0, 1], in the order of ``views``.
        gt: ``bool`` (H, W) ground truth, or None.
        views: the view names.

    Returns:
        dict with ``fused`` (``float32`` (H, W) in [0, 1]), ``weights`` (1 - H(fused), ``float32`` (H, W)),
        ``mean_entropy`` (bits) and, with GT, ``iou``, ``mae`` and ``iou_<view>`` per view.
    """
    fused = fuse_views(maps)
    result: dict[str, Any] = {"fused": fused, "weights": pixel_weights(fused), "mean_entropy": image_entropy(fused)}
    if gt is not None:
        result["iou"] = iou(binarise(fused), gt)
        result["mae"] = mae(fused, gt)
        for view, view_map in zip(views, maps, strict=True):
            result[f"iou_{view}"] = iou(binarise(view_map), gt)
    return result


def _mean_or_none(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def summarise(table: pd.DataFrame, config: ScoreConfig) -> dict[str, Any]:
    """The headline metrics of the pseudo labels, from the selection table (per view: :func:`view_quality`).

    Keys: images, kept, kept_fraction, selection (rule), tau (null under the fraction rule), mean_entropy,
    mean_iou_all, mean_iou_kept, mean_mae_all and entropy_error_spearman (rank correlation of mean entropy with
    1 - IoU; expected positive, the premise of entropy selection). The quality keys are null where no image has GT.
    """
    has_gt = "iou" in table.columns
    with_gt = table.dropna(subset=["iou"]) if has_gt else table.iloc[0:0]
    empty = pd.Series(dtype=float)
    kept = int(table["kept"].sum())
    return {
        "images": len(table),
        "kept": kept,
        "kept_fraction": kept / len(table),
        "selection": config.selection,
        "tau": config.tau if config.selection == "tau" else None,
        "mean_entropy": float(table["mean_entropy"].mean()),
        "mean_iou_all": _mean_or_none(with_gt["iou"]) if has_gt else None,
        "mean_iou_kept": _mean_or_none(with_gt.loc[with_gt["kept"], "iou"]) if has_gt else None,
        "mean_mae_all": _mean_or_none(with_gt["mae"] if has_gt else empty),
        "entropy_error_spearman": (rank_correlation(with_gt["mean_entropy"], 1.0 - with_gt["iou"]) if has_gt else None),
    }


def view_quality(table: pd.DataFrame, views: Sequence[str]) -> pd.DataFrame:
    """Each view's mean IoU with GT over the images that have GT, and the fused map's (view ``fused``) last:
    columns view, mean_iou. The selection table must have the ``iou`` and ``iou_<view>`` columns."""
    with_gt = table.dropna(subset=["iou"])
    rows = [{"view": v, "mean_iou": _mean_or_none(with_gt[f"iou_{v}"])} for v in views]
    return pd.DataFrame([*rows, {"view": "fused", "mean_iou": _mean_or_none(with_gt["iou"])}])


def score(
    *,
    manifest: str | os.PathLike[str],
    views_dir: str | os.PathLike[str],
    views: Sequence[str],
    config: ScoreConfig,
    output: str | os.PathLike[str],
    metrics: str | os.PathLike[str],
    progress: bool = True,
) -> dict[str, Any]:
    """Run the score stage; returns the metrics written to ``metrics`` (see :func:`summarise`).

    Every view map is checked (presence and size) before any is read. Under the tau rule, no kept image is an
    InputError naming ``score.tau``. ``progress``: a progress bar on stderr.
    """
    remove_temporaries(output, metrics)
    views_dir = Path(views_dir)
    table = read_manifest(manifest, usable_only=True)
    check_view_maps(table, views_dir, views)
    rows: list[dict[str, Any]] = []
    with staged_outputs(output) as staged:  # the maps and tables go in place with the metrics
        folder = staged[output]
        for entry in progress_bar(list(table.itertuples(index=False)), desc="score", enabled=progress):
            maps = [read_probability(view_map_path(views_dir, view, entry.name)) for view in views]
            gt = None
            if entry.gt is not None:
                gt = read_gt(entry.gt)
                if gt.shape != maps[0].shape:
                    raise InputError(
                        f"{entry.gt}: GT is {gt.shape[1]}x{gt.shape[0]} (WxH) but the view maps are "
                        f"{maps[0].shape[1]}x{maps[0].shape[0]}; rerun the prepare stage"
                    )
            result = score_image(maps, gt, views)
            write_png(label_path(folder, entry.name), probability_to_uint8(result.pop("fused")))
            write_png(weight_path(folder, entry.name), probability_to_uint8(result.pop("weights")))
            rows.append({"name": entry.name, **result})
        records = pd.DataFrame(rows)
        chosen = select_images(
            dict(zip(records["name"], records["mean_entropy"], strict=True)),
            rule=config.selection,
            tau=config.tau,
            keep_fraction=config.keep_fraction,
        )
        records.insert(2, "kept", [chosen[name] for name in records["name"]])
        if not records["kept"].any():
            raise InputError(
                f"parameter 'score.tau' = {config.tau} keeps no image (lowest mean entropy "
                f"{records['mean_entropy'].min():.4f}); raise score.tau or use score.selection: fraction"
            )
        if "iou" in records.columns:
            records = records[["name", "mean_entropy", "kept", "iou", "mae", *[f"iou_{v}" for v in views]]]
            write_table(folder / VIEWS_FILE, view_quality(records, views))
        write_table(folder / SELECTION_FILE, records)
        summary = summarise(records, config)
        with staged.commit():
            write_json(metrics, summary)
    return summary
