"""The run's curves as PNG files (matplotlib, no display needed): they read with no network, unlike the HTML page
``dvc plots show`` writes, whose chart library loads from the internet.

Every function takes tables (pandas) and writes one PNG atomically; nothing here reads the pipeline's folders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from wssam.staging import atomic_path

FIGURE_SIZE = (5.0, 3.6)
DPI = 100


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def training_curves(history: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]) -> None:
    """Loss (training, validation) and validation MAE per epoch. ``history``: metric name -> table with ``step``
    (0-based epoch) and the metric's column, as dvclive writes them."""
    figure = Figure(figsize=(FIGURE_SIZE[0] * 1.6, FIGURE_SIZE[1]), dpi=DPI)
    losses, mae = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for name, axes in (("train_loss", losses), ("val_loss", losses), ("val_mae", mae)):
        if name in history and len(history[name]):
            table = history[name]
            axes.plot(table["step"] + 1, table[name], marker=".", label=name)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.legend()
    mae.set_xlabel("epoch")
    mae.set_ylabel("validation MAE (against pseudo labels)")
    _save(figure, path)


def precision_recall(curves: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]) -> None:
    """Precision against recall over the 256 thresholds, one line per test set."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    for name, table in curves.items():
        axes.plot(table["recall"], table["precision"], label=name)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower left")
    _save(figure, path)


def threshold_curves(curves: Mapping[str, pd.DataFrame], column: str, label: str, path: str | os.PathLike[str]) -> None:
    """``column`` (``fmeasure`` or ``emeasure``) against the binarisation threshold, one line per test set."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    for name, table in curves.items():
        axes.plot(table["threshold"], table[column], label=name)
    axes.set_xlabel("threshold (grey level of the min-max normalised prediction)")
    axes.set_ylabel(label)
    axes.set_xlim(0, 255)
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower center")
    _save(figure, path)


def entropy_against_iou(selection: pd.DataFrame, tau: float | None, path: str | os.PathLike[str]) -> None:
    """Mean pixel entropy of each fused pseudo label against its IoU with GT, kept and discarded images coloured."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    data = selection.dropna(subset=["iou"]) if "iou" in selection.columns else selection.iloc[0:0]
    for kept, colour, label in ((True, "tab:blue", "kept"), (False, "tab:red", "discarded")):
        part = data[data["kept"] == kept]
        axes.scatter(part["mean_entropy"], part["iou"], s=14, c=colour, label=f"{label} ({len(part)})")
    if tau is not None:
        axes.axvline(tau, color="grey", linestyle="--", linewidth=1, label=f"tau = {tau:g}")
    axes.set_xlabel("mean pixel entropy of the fused pseudo label (bits)")
    axes.set_ylabel("IoU with ground truth")
    axes.legend(loc="lower left")
    _save(figure, path)


def entropy_histogram(selection: pd.DataFrame, tau: float | None, path: str | os.PathLike[str]) -> None:
    """Histogram of the images' mean entropies, kept and discarded stacked, tau marked."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    axes = figure.add_subplot()
    entropy = selection["mean_entropy"].to_numpy(dtype=float)
    bins = np.linspace(0.0, max(float(entropy.max(initial=0.0)), tau or 0.0, 1e-3) * 1.05, 25)
    kept = selection["kept"].to_numpy(dtype=bool)
    axes.hist([entropy[kept], entropy[~kept]], bins=bins, stacked=True, color=["tab:blue", "tab:red"],
              label=[f"kept ({kept.sum()})", f"discarded ({(~kept).sum()})"])  # fmt: skip
    if tau is not None:
        axes.axvline(tau, color="black", linestyle="--", linewidth=1, label=f"tau = {tau:g}")
    axes.set_xlabel("mean pixel entropy of the fused pseudo label (bits)")
    axes.set_ylabel("images")
    axes.legend()
    _save(figure, path)
