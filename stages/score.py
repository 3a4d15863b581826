"""Fuse the pseudo-label views, weight pixels by entropy, select the certain images, and report their quality.

Reads the usable rows of the training manifest and every view map <views-dir>/<view>/<name>.png (views from
pseudo_label.views); writes fused labels, pixel weights, selection.csv and views.csv under --output, and the
pseudo-label metrics (kept count, IoU against GT, entropy/IoU rank correlation) to --metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, figure, reports_input_errors
from wssam.config import load_section
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.score.config import ScoreConfig
from wssam.score.stage import score

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (sections score and pseudo_label).")],
    manifest: Annotated[Path, typer.Option(help="Training manifest written by prepare.")],
    views_dir: Annotated[Path, typer.Option(help="Folder holding one sub-folder of maps per view.")],
    output: Annotated[Path, typer.Option(help="Output folder (replaced as a whole).")],
    metrics: Annotated[Path, typer.Option(help="Metrics JSON file.")],
    quiet: Quiet = False,
) -> None:
    """Fuse the pseudo-label views, weight pixels by entropy, select the certain images, and report their quality."""
    config = load_section(ScoreConfig, "score", params)
    views = load_section(PseudoLabelConfig, "pseudo_label", params).views
    summary = score(
        manifest=manifest, views_dir=views_dir, views=views, config=config, output=output, metrics=metrics,
        progress=not quiet,
    )  # fmt: skip
    rule = f"mean entropy <= {config.tau:g}" if config.selection == "tau" else f"{config.keep_fraction:g} most certain"
    print(f"kept {summary['kept']} of {summary['images']} images ({rule}); fused {len(views)} views")
    if summary["mean_iou_all"] is not None:
        print(
            f"IoU with GT: all {figure(summary['mean_iou_all'])}, kept {figure(summary['mean_iou_kept'])}; "
            f"Spearman(entropy, 1 - IoU) = {figure(summary['entropy_error_spearman'], 3)}"
        )
    print(f"wrote {output} and {metrics}")


if __name__ == "__main__":
    app()
