"""The metrics of the MATLAB CODToolbox, per image and per dataset, via pysodmetrics.

Per image, as the toolbox does: the prediction is read as ``im2double(pred(:, :, 1))`` (the first channel of a
colour file, 16-bit files at their full depth: :func:`wssam.io.read_prediction`) and min-max normalised
(``mapminmax``; a constant map is left as read); the GT is read by the mask rules of :func:`wssam.io.read_gt`: a
soft mask with MATLAB's ``gt > 128`` (a grey level of exactly 128 is background), a binary one (two levels, one of
them 0: 0/1, 0/255) as everything not black. pysodmetrics then computes the metrics on these arrays (its own
reading, ``pred / 255`` of an 8-bit array, would cut a 16-bit map to 8 bits and read colour files by luminance).

Metrics (names as the toolbox prints them): ``Smeasure`` (alpha 0.5), ``wFmeasure`` (beta^2 = 1), ``MAE``,
``adpEm`` / ``meanEm`` / ``maxEm`` and ``adpFm`` / ``meanFm`` / ``maxFm`` (beta^2 = 0.3). A dataset value is the
mean over images, except ``meanEm``, ``maxEm``, ``meanFm`` and ``maxFm``, which are the mean and the maximum over
the 256 thresholds of the image-averaged E-/F-measure curve (so ``maxFm`` of a dataset is not the mean of the
images' ``maxFm``). ``adpEm`` binarises above its threshold as the toolbox does (:func:`adaptive_emeasure`).

Known deviations from MATLAB: pysodmetrics' E-measure curve binarises at ``>=`` each of the 256 thresholds, the
toolbox at ``>``. For a GT with both classes the curves hold the same values but at one end (the toolbox's empty
map against pysodmetrics' full one, 0.25 both when the map spans 0..1), so ``meanEm`` and ``maxEm`` agree (about
1e-5 on the reference images, as does ``maxFm``); for an empty or full GT that end point is 1 against 0, which moves
the image's ``meanEm`` by 1/256. The other values agree to 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import py_sod_metrics as sod

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
    precision_curve: np.ndarray  # float64 (256,)
    recall_curve: np.ndarray  # float64 (256,)

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


def min_max_normalise(pred: np.ndarray) -> np.ndarray:
    """MATLAB's ``mapminmax(pred, 0, 1)`` over the whole map: ``(pred - min) / (max - min)``; a constant map is
    returned as it is (``mapminmax`` leaves constant rows unchanged). The same operations as pysodmetrics' own."""
    low, high = pred.min(), pred.max()
    return (pred - low) / (high - low) if high != low else pred


def measure_image(pred: np.ndarray, gt: np.ndarray) -> ImageMeasures:
    """All metrics of one image with fresh pysodmetrics objects.

    Args:
        pred: prediction, ``float64`` (H, W) in [0, 1] as :func:`wssam.io.read_prediction` reads it (the toolbox's
            ``im2double``); min-max normalised here, as the toolbox does.
        gt: ground truth, ``bool`` (H, W), as :func:`wssam.io.read_gt` reads it.
    """
    if pred.dtype != np.float64 or gt.dtype != bool or pred.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(
            f"measure_image expects a float64 and a bool (H, W) array of one shape, got {pred.dtype} {pred.shape} "
            f"and {gt.dtype} {gt.shape}"
        )
    if pred.size and not 0.0 <= pred.min() <= pred.max() <= 1.0:
        raise ValueError(f"measure_image expects a prediction in [0, 1], got {pred.min()}..{pred.max()}")
    pred = min_max_normalise(pred)
    smeasure, wfmeasure, mae, emeasure = sod.Smeasure(), sod.WeightedFmeasure(), sod.MAE(), sod.Emeasure()
    fmeasure = sod.FmeasureV2(
        {
            "fm": sod.FmeasureHandler(with_dynamic=True, with_adaptive=True, beta=F_BETA_SQUARED),
            "precision": sod.PrecisionHandler(with_dynamic=True, with_adaptive=False),
            "recall": sod.RecallHandler(with_dynamic=True, with_adaptive=False),
        }
    )
    for metric in (smeasure, wfmeasure, mae, emeasure, fmeasure):
        metric.step(pred=pred, gt=gt, normalize=False)
    em = emeasure.get_results()["em"]
    handlers = fmeasure.get_results()
    fm = handlers["fm"]
    return ImageMeasures(
        smeasure=float(smeasure.get_results()["sm"]),
        wfmeasure=float(wfmeasure.get_results()["wfm"]),
        mae=float(mae.get_results()["mae"]),
        adp_em=adaptive_emeasure(emeasure, pred, gt),
        adp_fm=float(fm["adaptive"]),
        em_curve=np.asarray(em["curve"], dtype=np.float64),
        fm_curve=np.asarray(fm["dynamic"], dtype=np.float64),
        precision_curve=np.asarray(handlers["precision"]["dynamic"], dtype=np.float64),
        recall_curve=np.asarray(handlers["recall"]["dynamic"], dtype=np.float64),
    )


def adaptive_emeasure(emeasure: sod.Emeasure, pred: np.ndarray, gt: np.ndarray) -> float:
    """The toolbox's ``adpEm``: the E-measure of ``pred > min(2 * mean(pred), 1)`` (``Bi_sal(sal > threshold)``).

    pysodmetrics binarises at ``>=`` the threshold (its README asks for the MATLAB line to be edited to match). The
    two differ where pixels equal the threshold, which is where it counts: when the mean is at least 0.5 (an object
    filling half the image), the threshold is 1 and ``>=`` keeps every saturated pixel where the toolbox keeps none
    (adpEm 0.96 against 0.25 for a confident map of such an object), and a black map on an empty GT scores 0 where
    the toolbox gives 1. So pysodmetrics' own formula runs at the next float above the threshold. ``emeasure`` has
    taken its step on (``pred``, ``gt``): min-max normalised ``float64`` and ``bool`` (H, W)."""
    threshold = min(2.0 * float(pred.mean()), 1.0)
    return float(emeasure.cal_em_with_threshold(pred, gt, threshold=np.nextafter(threshold, np.inf)))


def curve_table(measures: list[ImageMeasures]) -> pd.DataFrame:
    """The dataset's curves over the 256 binarisation thresholds, image-averaged as the toolbox does.

    Columns: ``threshold`` (255 down to 0: a pixel is foreground where the min-max normalised prediction, in grey
    levels, is at or above it), ``precision``, ``recall``, ``fmeasure`` (beta^2 = 0.3) and ``emeasure``.
    """
    if not measures:
        raise ValueError("curve_table needs at least one image")
    return pd.DataFrame(
        {
            "threshold": np.arange(255, -1, -1),
            "precision": np.mean([m.precision_curve for m in measures], axis=0),
            "recall": np.mean([m.recall_curve for m in measures], axis=0),
            "fmeasure": np.mean([m.fm_curve for m in measures], axis=0),
            "emeasure": np.mean([m.em_curve for m in measures], axis=0),
        }
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
