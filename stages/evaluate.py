"""Evaluate predicted maps against GT masks with the CODToolbox metrics (S-measure, weighted F, MAE, E- and F-measure).

Every GT in --gt-dir needs a prediction of the same base name and size in --pred-dir. Writes the dataset values to
--output (JSON: Smeasure, wFmeasure, MAE, adpEm, meanEm, maxEm, adpFm, meanFm, maxFm) and, optionally, one row per
image to --per-image (CSV). Needs no params.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, reports_input_errors
from wssam.evaluate.stage import evaluate

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    pred_dir: Annotated[Path, typer.Option(help="Folder of predicted maps (8-bit PNG, named like the GT).")],
    gt_dir: Annotated[Path, typer.Option(help="Folder of ground-truth masks.")],
    output: Annotated[Path, typer.Option(help="Metrics JSON file.")],
    per_image: Annotated[Path | None, typer.Option(help="Optional per-image CSV file.")] = None,
    curves: Annotated[Path | None, typer.Option(help="Optional CSV of the curves over the thresholds.")] = None,
    quiet: Quiet = False,
) -> None:
    """Evaluate predicted maps against GT masks with the CODToolbox metrics (S-measure, weighted F, MAE, E, F)."""
    results = evaluate(
        pred_dir=pred_dir, gt_dir=gt_dir, output=output, per_image=per_image, curves=curves, show_progress=not quiet
    )
    print("  ".join(f"{name} {value:.4f}" for name, value in results.items()))
    print(f"wrote {output}" + "".join(f" and {path}" for path in (per_image, curves) if path))


if __name__ == "__main__":
    app()
