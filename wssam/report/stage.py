"""The ``report`` stage: one page with the run's parameters, pseudo-label statistics, every test set's metrics beside
the published WS-SAM numbers, the curves and the galleries; the same tables in Markdown.

Reads what the other stages wrote (their layouts: :mod:`wssam.prepare.layout`, :mod:`wssam.pseudo_label.layout`,
:mod:`wssam.score.layout`, :mod:`wssam.evaluate.layout`) and writes, under ``output``: ``index.html``,
``plots/*.png`` and ``galleries/*.png``; and the summary Markdown file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from wssam.config import load_section
from wssam.evaluate.layout import curves_file, metrics_file, per_image_file
from wssam.evaluate.metrics import METRIC_NAMES, aggregate
from wssam.evaluate.stage import measure_pair
from wssam.io import read_gt, read_json, read_label_map, read_probability, read_rgb, read_table, write_json, write_text
from wssam.predict.layout import prediction_file
from wssam.prepare.config import SYNTHETIC, PrepareConfig
from wssam.prepare.layout import MANIFEST_NAME, test_folder, train_folder
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.layout import view_map_path
from wssam.report import plots
from wssam.report.config import ReportConfig
from wssam.report.galleries import DISCARDED_COLOUR, KEPT_COLOUR, GalleryRow, grey_cell, sparse_cell, write_gallery
from wssam.report.page import ReportContent, metrics_rows, render_html, render_markdown
from wssam.report.published import published
from wssam.score.config import ScoreConfig
from wssam.score.entropy import binary_entropy
from wssam.score.layout import SELECTION_FILE, label_path, weight_path
from wssam.staging import staged_outputs

PAGE_FILE = "index.html"
PLOTS_DIR = "plots"
GALLERIES_DIR = "galleries"
TRAIN_LOG_METRICS = ("train_loss", "val_loss", "val_mae")


def report(
    *,
    params: str | os.PathLike[str],
    prepared: str | os.PathLike[str],
    views_dir: str | os.PathLike[str],
    scored_dir: str | os.PathLike[str],
    train_log: str | os.PathLike[str],
    predictions: str | os.PathLike[str],
    evaluation: str | os.PathLike[str],
    test_metrics: str | os.PathLike[str],
    pseudo_label_metrics: str | os.PathLike[str],
    train_metrics: str | os.PathLike[str],
    output: str | os.PathLike[str],
    summary: str | os.PathLike[str],
    pseudo_label_scores: str | os.PathLike[str],
) -> dict[str, Any]:
    """Write the report; returns the number of plots and galleries and the test sets reported.

    ``pseudo_label_scores``: a metrics JSON of the fused pseudo labels scored as predictions against the GT of the
    training images that have one (the toolbox metrics; all null without GT), the ablation's "pseudo labels alone"
    row.
    """
    config = load_section(ReportConfig, "report", params)
    sources = load_section(PrepareConfig, "prepare", params).test_sets
    test_sets = list(sources)
    views = load_section(PseudoLabelConfig, "pseudo_label", params).views
    score_config = load_section(ScoreConfig, "score", params)
    tau = score_config.tau if score_config.selection == "tau" else None
    output = Path(output)
    train_rows = read_manifest(train_folder(prepared) / MANIFEST_NAME, usable_only=True)
    selection = read_table(Path(scored_dir) / SELECTION_FILE)
    supervision = str(train_rows["sparse_kind"].iloc[0]) or "scribble"

    content = ReportContent(title="WS-SAM run report", params=Path(params).read_text(encoding="utf-8"))
    content.tables["Test sets (toolbox metrics)"] = (
        ["test set", *METRIC_NAMES],
        [row for name in test_sets
         for row in metrics_rows(name, read_json(metrics_file(test_metrics, name)),
                                 published_beside(supervision, name, sources[name], Path(prepared)))],
    )  # fmt: skip
    content.tables["Pseudo labels"] = _key_value_table(read_json(pseudo_label_metrics))
    as_predictions = score_pseudo_labels(train_rows, Path(scored_dir))
    content.tables["Fused pseudo labels scored as predictions (training images with GT)"] = (
        ["pseudo labels", *METRIC_NAMES],
        [["fused", *(as_predictions[m] for m in METRIC_NAMES)]],
    )
    content.tables["Training"] = _key_value_table(read_json(train_metrics))

    with staged_outputs(output) as staged:  # the page and its images go in place with the other outputs
        staging = staged[output]
        plots_dir, galleries_dir = staging / PLOTS_DIR, staging / GALLERIES_DIR
        content.images.update(_plots(plots_dir, Path(train_log), Path(evaluation), test_sets, selection, tau))
        content.images["Training images: pseudo labels view by view"] = _train_gallery(
            galleries_dir / "train.png", train_rows, selection, Path(views_dir), Path(scored_dir), views, config
        )
        for name in test_sets:
            content.images[f"{name}: best and worst by S-measure"] = _test_gallery(
                galleries_dir / f"test_{name}.png", name, Path(prepared), Path(predictions), Path(evaluation), config
            )
        write_text(staging / PAGE_FILE, render_html(content))
        with staged.commit():
            write_text(summary, render_markdown(content))
            write_json(pseudo_label_scores, as_predictions)
    return {"images": len(content.images), "test_sets": test_sets}


def published_beside(supervision: str, name: str, source: str, prepared: Path) -> dict[str, float] | None:
    """The paper's numbers for test set ``name``, where it is a real dataset with every image of the standard set of
    that name (a synthetic set called CAMO, or a ``prepare.max_images`` subset, is not comparable)."""
    if source == SYNTHETIC:
        return None
    return published(supervision, name, len(read_manifest(test_folder(prepared, name) / MANIFEST_NAME)))


def score_pseudo_labels(rows: pd.DataFrame, scored_dir: Path) -> dict[str, float | None]:
    """The toolbox metrics of the fused pseudo labels of ``rows`` (usable training images) against their GT, as
    ``evaluate`` scores predictions; every value None when no image has GT."""
    pairs = [(label_path(scored_dir, row.name), row.gt) for row in rows.itertuples(index=False) if row.gt is not None]
    if not pairs:
        return dict.fromkeys(METRIC_NAMES)
    return aggregate([measure_pair(label, gt)[0] for label, gt in pairs])


def _key_value_table(values: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    rows = [[key, value] for key, value in values.items() if not isinstance(value, dict | list)]
    return ["quantity", "value"], rows


def _plots(
    folder: Path, train_log: Path, evaluation: Path, test_sets: list[str], selection: pd.DataFrame, tau: float | None
) -> dict[str, Path]:
    """Every curve as a PNG in ``folder``; returns title -> path."""
    images: dict[str, Path] = {}
    history = {
        name: pd.read_csv(path, sep="\t")
        for name in TRAIN_LOG_METRICS
        if (path := train_log / "plots" / "metrics" / f"{name}.tsv").is_file()
    }
    if history:
        plots.training_curves(history, folder / "training.png")
        images["Training and validation curves"] = folder / "training.png"
    curves = {name: read_table(curves_file(evaluation, name)) for name in test_sets}
    plots.precision_recall(curves, folder / "precision_recall.png")
    plots.threshold_curves(curves, "fmeasure", "F-measure (beta^2 = 0.3)", folder / "fmeasure.png")
    plots.threshold_curves(curves, "emeasure", "E-measure", folder / "emeasure.png")
    images.update({"Precision and recall": folder / "precision_recall.png", "F-measure per threshold":
                   folder / "fmeasure.png", "E-measure per threshold": folder / "emeasure.png"})  # fmt: skip
    if "iou" in selection.columns:
        plots.entropy_against_iou(selection, tau, folder / "entropy_vs_iou.png")
        images["Entropy of the pseudo labels against their IoU"] = folder / "entropy_vs_iou.png"
    plots.entropy_histogram(selection, tau, folder / "entropy_histogram.png")
    images["Entropy of the pseudo labels, image by image"] = folder / "entropy_histogram.png"
    return images


def _train_gallery(
    path: Path,
    rows: pd.DataFrame,
    selection: pd.DataFrame,
    views_dir: Path,
    scored_dir: Path,
    views: tuple[str, ...],
    config: ReportConfig,
) -> Path:
    """Image | sparse labels | every view's map | fused | entropy | weight | GT, for the first images by name."""
    chosen = rows.sort_values("name").head(config.train_gallery)
    scores = selection.set_index("name")
    gallery_rows = []
    for row in chosen.itertuples(index=False):
        fused = read_probability(label_path(scored_dir, row.name))
        cells = [read_rgb(row.image), sparse_cell(read_label_map(row.sparse))]
        cells += [grey_cell(read_probability(view_map_path(views_dir, view, row.name))) for view in views]
        weight = read_probability(weight_path(scored_dir, row.name))
        cells += [grey_cell(fused), grey_cell(binary_entropy(fused)), grey_cell(weight)]
        if row.gt is not None:
            cells.append(grey_cell(read_gt(row.gt).astype(np.float32)))
        kept = bool(scores.loc[row.name, "kept"])
        caption = f"{row.name}\n{'kept' if kept else 'discarded'}\nH {scores.loc[row.name, 'mean_entropy']:.3f}"
        if "iou" in scores.columns:
            caption += f"\nIoU {scores.loc[row.name, 'iou']:.3f}"
        gallery_rows.append(GalleryRow(caption, cells, KEPT_COLOUR if kept else DISCARDED_COLOUR))
    columns = ["image", "sparse", *views, "fused", "entropy", "weight", "GT"]
    write_gallery(path, columns, gallery_rows)
    return path


def _test_gallery(
    path: Path, name: str, prepared: Path, predictions: Path, evaluation: Path, config: ReportConfig
) -> Path:
    """Image | GT | prediction for the best and the worst test images by S-measure."""
    rows = read_manifest(test_folder(prepared, name) / MANIFEST_NAME).set_index("name")
    scores = read_table(per_image_file(evaluation, name)).astype({"name": str})
    scores = scores.sort_values(["Smeasure", "name"], ascending=[False, True])
    count = config.test_extremes
    chosen = list(scores.head(count).itertuples(index=False))
    chosen += [row for row in scores.tail(count).itertuples(index=False) if row not in chosen]
    gallery_rows = []
    for rank, score in enumerate(chosen):
        row = rows.loc[score.name]
        cells = [read_rgb(row["image"]), grey_cell(read_gt(row["gt"]).astype(np.float32)),
                 grey_cell(read_probability(prediction_file(predictions / name, score.name)))]  # fmt: skip
        label = "best" if rank < count else "worst"
        gallery_rows.append(GalleryRow(f"{score.name}\n{label}\nS {score.Smeasure:.3f}", cells))
    write_gallery(path, ["image", "GT", "prediction"], gallery_rows)
    return path
