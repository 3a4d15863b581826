"""Evaluation of predicted maps against ground truth with the metrics of the MATLAB CODToolbox, via pysodmetrics.

Files: every GT ``<gt_dir>/<name>.<ext>`` needs a prediction ``<pred_dir>/<name>.<ext>`` with the same base name and
the same size (any image suffix). Both are read as one ``uint8`` channel (RGB files converted to luminance).
pysodmetrics then does what the toolbox does, per image: the prediction is min-max normalised
(``mapminmax(im2double(pred))``; a constant map is only divided by 255) and the GT is binarised with ``> 128``
(MATLAB's ``gt > 128``: a grey level of exactly 128 is background here, unlike :func:`wssam.io.read_gt`).

Metrics (names as the toolbox prints them): ``Smeasure`` (alpha 0.5), ``wFmeasure`` (beta^2 = 1), ``MAE``,
``adpEm`` / ``meanEm`` / ``maxEm`` and ``adpFm`` / ``meanFm`` / ``maxFm`` (beta^2 = 0.3). A dataset value is the
mean over images, except ``meanEm``, ``maxEm``, ``meanFm`` and ``maxFm``, which are the mean and the maximum over
the 256 thresholds of the image-averaged E-/F-measure curve (so ``maxFm`` of a dataset is not the mean of the
images' ``maxFm``). Known deviation from MATLAB: about 1e-5 on ``meanEm`` and ``maxFm`` (``>=`` vs ``>`` at one
binarisation step inside pysodmetrics); all other values agree to 1e-9.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import py_sod_metrics as sod

from wssam.io import InputError, list_images, read_grey, read_image_size, write_json, write_table

METRIC_NAMES = ("Smeasure", "wFmeasure", "MAE", "adpEm", "meanEm", "maxEm", "adpFm", "meanFm", "maxFm")
F_BETA_SQUARED = 0.3  # beta^2 of the adaptive / mean / max F-measure, as in the toolbox


@dataclass(frozen=True)
class ImageMeasures:
    """The metrics of one image: its scalar values and its E-/F-measure curves over 256 thresholds."""

    smeasure: float
    wfmeasure: float
    mae: float
    adp_em: float
    adp_fm: float
    em_curve: np.ndarray  # float64 (256,)
    fm_curve: np.ndarray  # float64 (256,)

    def values(self) -> dict[str, float]:
        """The nine per-image values, named as in :data:`METRIC_NAMES`."""
        return curve_values(
            smeasure=self.smeasure,
            wfmeasure=self.wfmeasure,
            mae=self.mae,
            adp_em=self.adp_em,
            adp_fm=self.adp_fm,
            em_curve=self.em_curve,
            fm_curve=self.fm_curve,
        )


def curve_values(
    *,
    smeasure: float,
    wfmeasure: float,
    mae: float,
    adp_em: float,
    adp_fm: float,
    em_curve: np.ndarray,
    fm_curve: np.ndarray,
) -> dict[str, float]:
    """Name the values in the toolbox's order; mean and max E-/F-measure are taken over the threshold curves."""
    return {
        "Smeasure": float(smeasure),
        "wFmeasure": float(wfmeasure),
        "MAE": float(mae),
        "adpEm": float(adp_em),
        "meanEm": float(np.mean(em_curve)),
        "maxEm": float(np.max(em_curve)),
        "adpFm": float(adp_fm),
        "meanFm": float(np.mean(fm_curve)),
        "maxFm": float(np.max(fm_curve)),
    }


def measure_image(pred: np.ndarray, gt: np.ndarray) -> ImageMeasures:
    """All metrics of one image with fresh pysodmetrics objects.

    Args:
        pred: prediction, ``uint8`` (H, W), any range (min-max normalised by pysodmetrics).
        gt: ground truth, ``uint8`` (H, W) grey levels (binarised with > 128 by pysodmetrics).
    """
    if pred.dtype != np.uint8 or gt.dtype != np.uint8 or pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"measure_image expects two uint8 (H, W) arrays of one shape, got {pred.shape}, {gt.shape}")
    smeasure, wfmeasure, mae, emeasure = sod.Smeasure(), sod.WeightedFmeasure(), sod.MAE(), sod.Emeasure()
    fmeasure = sod.FmeasureV2({"fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=F_BETA_SQUARED)})
    for metric in (smeasure, wfmeasure, mae, emeasure, fmeasure):
        metric.step(pred=pred, gt=gt)
    em = emeasure.get_results()["em"]
    fm = fmeasure.get_results()["fm"]
    return ImageMeasures(
        smeasure=float(smeasure.get_results()["sm"]),
        wfmeasure=float(wfmeasure.get_results()["wfm"]),
        mae=float(mae.get_results()["mae"]),
        adp_em=float(em["adp"]),
        adp_fm=float(fm["adaptive"]),
        em_curve=np.asarray(em["curve"], dtype=np.float64),
        fm_curve=np.asarray(fm["dynamic"], dtype=np.float64),
    )


def aggregate(measures: list[ImageMeasures]) -> dict[str, float]:
    """Dataset values: image means, with mean/max E-/F-measure taken over the image-averaged curves."""
    if not measures:
        raise ValueError("aggregate needs at least one image")
    return curve_values(
        smeasure=np.mean([m.smeasure for m in measures]),
        wfmeasure=np.mean([m.wfmeasure for m in measures]),
        mae=np.mean([m.mae for m in measures]),
        adp_em=np.mean([m.adp_em for m in measures]),
        adp_fm=np.mean([m.adp_fm for m in measures]),
        em_curve=np.mean([m.em_curve for m in measures], axis=0),
        fm_curve=np.mean([m.fm_curve for m in measures], axis=0),
    )


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


def evaluate_folders(
    *,
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    per_image: str | os.PathLike[str] | None = None,
) -> dict[str, float]:
    """Evaluate a folder of predictions against a folder of GT masks and write the results.

    Writes ``output`` (JSON with exactly the keys of :data:`METRIC_NAMES`) and, when given, ``per_image`` (CSV with
    ``name`` and the nine per-image values). Returns the dataset values.
    """
    pairs = pair_files(pred_dir, gt_dir)
    measures = [measure_image(read_grey(pred_path), read_grey(gt_path)) for _, pred_path, gt_path in pairs]
    results = aggregate(measures)
    if per_image is not None:
        rows = [{"name": name, **m.values()} for (name, _, _), m in zip(pairs, measures, strict=True)]
        write_table(per_image, pd.DataFrame(rows, columns=["name", *METRIC_NAMES]))
    write_json(output, results)
    return results
