"""Fuse the pseudo-label views, weight pixels by entropy, select the certain images, and report their quality.

Reads the usable rows of the training manifest and every view map data/pseudo_labels/views/<view>/<name>.png
(views from pseudo_label.views); writes fused labels, pixel weights, selection.csv and a plot under --output, and
the pseudo-label metrics (kept count, IoU against GT, entropy/IoU rank correlation) to --metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import reports_input_errors
from wssam.config import load_section
from wssam.scoring.score import ScoreConfig, read_view_names, score_dataset

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (sections score and pseudo_label).")] = Path(
        "params.yaml"
    ),
    manifest: Annotated[Path, typer.Option(help="Training manifest written by prepare.")] = Path(
        "data/prepared/train/manifest.csv"
    ),
    views_dir: Annotated[Path, typer.Option(help="Folder holding one sub-folder of maps per view.")] = Path(
        "data/pseudo_labels/views"
    ),
    output: Annotated[Path, typer.Option(help="Output folder (replaced as a whole).")] = Path(
        "data/pseudo_labels/scored"
    ),
    metrics: Annotated[Path, typer.Option(help="Metrics JSON file.")] = Path("metrics/pseudo_labels.json"),
) -> None:
    """Fuse the pseudo-label views, weight pixels by entropy, select the certain images, and report their quality."""
    config = load_section(ScoreConfig, "score", params)
    views = read_view_names(params)
    summary = score_dataset(
        manifest=manifest, views_dir=views_dir, views=views, config=config, output=output, metrics=metrics
    )
    rule = f"mean entropy <= {config.tau:g}" if config.selection == "tau" else f"{config.keep_fraction:g} most certain"
    print(f"kept {summary['kept']} of {summary['images']} images ({rule}); fused {len(views)} views")
    if summary["mean_iou_all"] is not None:
        print(
            f"IoU with GT: all {summary['mean_iou_all']:.4f}, kept {summary['mean_iou_kept']}; "
            f"Spearman(entropy, IoU) = {summary['entropy_iou_spearman']}"
        )
    print(f"wrote {output} and {metrics}")


if __name__ == "__main__":
    app()
