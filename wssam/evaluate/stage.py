"""The ``evaluate`` stage: predicted maps against GT masks with the CODToolbox metrics (:mod:`.metrics`).

Files: every GT ``<gt_dir>/<name>.<ext>`` needs a prediction ``<pred_dir>/<name>.<ext>`` with the same base name and
the same size (any image suffix). Predictions are read as the CODToolbox reads them (the first channel of a colour
file, at its stored depth, in [0, 1]); GT masks by the mask rules of :mod:`wssam.pixels` (0/1, 0/255 and two-colour
masks are binary, soft masks are foreground above level 128). Empty GT masks are reported in one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from wssam.cli import progress
from wssam.evaluate.metrics import METRIC_NAMES, ImageMeasures, aggregate, curve_table, measure_image
from wssam.io import InputError, list_images, read_gt, read_image_size, read_prediction, write_json, write_table
from wssam.staging import remove_temporaries, signals_held


def pair_files(pred_dir: str | os.PathLike[str], gt_dir: str | os.PathLike[str]) -> list[tuple[str, Path, Path]]:
    """Match every GT to its prediction by base name and check their sizes, before any metric is computed.

    Returns:
        (name, prediction path, GT path) per GT image, sorted by name. Predictions without GT are ignored.

    Raises:
        InputError: no GT image, a GT without prediction (names the missing file), or a size mismatch (names the
            prediction and both sizes).
    """
    gts = list_images(gt_dir)
    if not gts:
        raise InputError(f"{gt_dir}: no GT image found; check --gt-dir")
    preds = list_images(pred_dir)
    pairs = []
    for name, gt_path in gts.items():
        pred_path = preds.get(name)
        if pred_path is None:
            raise InputError(
                f"{Path(pred_dir) / (name + '.png')}: prediction missing for {gt_path}; rerun the predict stage"
            )
        pred_size, gt_size = read_image_size(pred_path), read_image_size(gt_path)
        if pred_size != gt_size:
            raise InputError(
                f"{pred_path}: prediction is {pred_size[1]}x{pred_size[0]} (WxH) but its GT {gt_path} is "
                f"{gt_size[1]}x{gt_size[0]}; predictions must be saved at the GT's size"
            )
        pairs.append((name, pred_path, gt_path))
    return pairs


def measure_pair(pred_path: Path, gt_path: Path) -> tuple[ImageMeasures, bool]:
    """The metrics of one prediction against its GT, and whether that GT is empty (no foreground pixel)."""
    gt = read_gt(gt_path)
    return measure_image(read_prediction(pred_path), gt), not gt.any()


def evaluate(
    *,
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    per_image: str | os.PathLike[str] | None = None,
    curves: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Evaluate a folder of predictions against a folder of GT masks and write the results.

    Writes ``output`` (JSON with exactly the keys of :data:`METRIC_NAMES`) and, when given, ``per_image`` (CSV with
    ``name`` and the nine per-image values) and ``curves`` (CSV: precision, recall, F- and E-measure per threshold,
    see :func:`~wssam.evaluate.metrics.curve_table`). Returns the dataset values. Empty GT masks are reported through
    ``log`` in one line.
    """
    remove_temporaries(output, *(path for path in (per_image, curves) if path is not None))
    pairs = pair_files(pred_dir, gt_dir)
    measured = [measure_pair(pred, gt) for _, pred, gt in progress(pairs, desc="evaluate", enabled=show_progress)]
    measures = [measure for measure, _ in measured]
    empty = [name for (name, _, _), (_, is_empty) in zip(pairs, measured, strict=True) if is_empty]
    if empty:
        shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
        log(f"warning: {len(empty)} of {len(pairs)} GT masks in {gt_dir} are empty ({shown}); their S-measure and "
            "F-measures say little")  # fmt: skip
    results = aggregate(measures)
    rows = [{"name": name, **m.values()} for (name, _, _), m in zip(pairs, measures, strict=True)]
    with signals_held():  # the three files go in place together
        if per_image is not None:
            write_table(per_image, pd.DataFrame(rows, columns=["name", *METRIC_NAMES]))
        if curves is not None:
            write_table(curves, curve_table(measures))
        write_json(output, results)
    return results
