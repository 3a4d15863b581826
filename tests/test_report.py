"""The report's parts: the page is self-contained and shows the paper's numbers beside a standard test set's, the
Markdown holds the same tables, galleries and plots are images of the promised layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wssam.evaluate.metrics import METRIC_NAMES
from wssam.io import write_png
from wssam.prepare import layout
from wssam.prepare.manifest import manifest_row, write_manifest
from wssam.report import plots
from wssam.report.galleries import THUMBNAIL, GalleryRow, compose, grey_cell, sparse_cell
from wssam.report.page import ReportContent, metrics_rows, render_html, render_markdown
from wssam.report.published import published
from wssam.report.stage import published_beside


def _content(tmp_path: Path) -> ReportContent:
    write_png(tmp_path / "figure.png", np.full((8, 8, 3), 200, np.uint8))
    values = dict.fromkeys(METRIC_NAMES, 0.5)
    rows = metrics_rows("COD10K", values, published("scribble", "COD10K", 2026)) + metrics_rows("demo", values, None)
    content = ReportContent(title="run <1>", params="train:\n  epochs: 3\n")
    content.tables["Test sets"] = (["test set", *METRIC_NAMES], rows)
    content.images["A figure"] = tmp_path / "figure.png"
    return content


def test_published_numbers_sit_beside_a_standard_test_set_only() -> None:
    rows = metrics_rows("COD10K", dict.fromkeys(METRIC_NAMES, 0.5), published("scribble", "COD10K", 2026))
    assert rows[1][0] == "published WS-SAM, COD10K"
    by_name = dict(zip(["set", *METRIC_NAMES], rows[1], strict=True))
    assert (by_name["MAE"], by_name["adpFm"], by_name["meanEm"], by_name["Smeasure"]) == (0.038, 0.719, 0.878, 0.803)
    assert by_name["wFmeasure"] is None
    assert published("point", "nc4k", 4121)["Smeasure"] == 0.813 and published("scribble", "demo_test", 24) is None
    assert published("scribble", "CAMO-test", 250)["Smeasure"] == 0.759  # the name METHOD.md uses
    assert published("scribble", "CAMO", 24) is None  # a prepare.max_images subset is not the paper's set


@pytest.mark.parametrize(("source", "images", "shown"), [("data/raw/CAMO", 250, True), ("data/raw/CAMO", 24, False),
                                                       ("synthetic", 250, False)])  # fmt: skip
def test_the_report_compares_only_a_whole_real_standard_set(tmp_path: Path, source: str, images: int, shown: bool):
    """A synthetic set named CAMO or a prepare.max_images subset of the real one got the paper's CAMO numbers."""
    rows = [manifest_row(name=f"{i:04d}", image=f"Imgs/{i:04d}.jpg", size=(8, 8), gt=f"GT/{i:04d}.png")
            for i in range(images)]  # fmt: skip
    write_manifest(layout.test_folder(tmp_path, "CAMO") / layout.MANIFEST_NAME, pd.DataFrame(rows))
    numbers = published_beside("scribble", "CAMO", source, tmp_path)
    assert (numbers is not None) == shown and (not shown or numbers["Smeasure"] == 0.759)


def test_the_page_is_self_contained_and_escapes_text(tmp_path: Path) -> None:
    page = render_html(_content(tmp_path))
    assert 'src="data:image/png;base64,' in page and "http" not in page
    assert "run &lt;1&gt;" in page and "published WS-SAM, COD10K" in page and 'class="published"' in page
    assert "data-images-broken" not in page.split("<script>")[0]  # set by the page's own script, in a browser


def test_the_summary_holds_the_same_tables(tmp_path: Path) -> None:
    summary = render_markdown(_content(tmp_path))
    assert "| test set | Smeasure |" in summary and "| COD10K | 0.5000 |" in summary
    assert "| published WS-SAM, COD10K | 0.8030 | - | 0.0380 |" in summary


def test_a_gallery_has_one_row_per_image_and_one_column_per_map() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    labels = np.zeros((40, 80), np.uint8)
    labels[5, 5], labels[6, 6] = 1, 2
    assert tuple(sparse_cell(labels)[5, 5]) == (0, 230, 0) and tuple(sparse_cell(labels)[6, 6]) == (230, 0, 0)
    cells = [image, sparse_cell(labels), grey_cell(np.full((40, 80), 0.5))]
    gallery = compose(["image", "sparse", "map"], [GalleryRow("a", cells), GalleryRow("b", cells)])
    assert gallery.shape[0] > 2 * THUMBNAIL and gallery.shape[1] > 3 * 2 * THUMBNAIL  # aspect kept: 2:1 cells


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    curves = pd.DataFrame({"threshold": np.arange(255, -1, -1), "precision": np.linspace(1, 0.3, 256),
                           "recall": np.linspace(0, 1, 256), "fmeasure": 0.5, "emeasure": 0.6})  # fmt: skip
    plots.precision_recall({"demo": curves}, tmp_path / "pr.png")
    selection = pd.DataFrame({"mean_entropy": [0.1, 0.3, 0.6], "kept": [True, True, False], "iou": [0.9, 0.7, 0.4]})
    plots.entropy_histogram(selection, 0.5, tmp_path / "hist.png")
    plots.entropy_against_iou(selection, None, tmp_path / "scatter.png")
    for name in ("pr.png", "hist.png", "scatter.png"):
        assert Image.open(tmp_path / name).format == "PNG"
    assert not list(tmp_path.glob(".*"))  # written atomically, no temporary left


@pytest.mark.parametrize("supervision", ["scribble", "point"])
def test_every_standard_cod_set_has_published_numbers(supervision: str) -> None:
    for name, images in (("CHAMELEON", 76), ("CAMO", 250), ("COD10K", 2026), ("NC4K", 4121)):
        assert set(published(supervision, name, images)) == {"MAE", "adpFm", "meanEm", "Smeasure"}
