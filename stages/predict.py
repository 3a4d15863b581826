"""Predict a test set with the trained network: one 8-bit map per image, at the image's original size.

The network and its input size come from --checkpoint alone. Each map is the sigmoid of the final output, resized
to the image's size and min-max normalised, written as --output/<name>.png; the output folder is replaced whole at
the end. With launcher.nproc_per_node > 1 in params.yaml the script runs itself under torchrun and the processes
share the images (the maps are byte-identical at the same threads per process, OMP_NUM_THREADS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, reports_input_errors
from wssam.config import load_section
from wssam.launcher import LauncherConfig, run_under_torchrun
from wssam.predict.config import PredictConfig
from wssam.predict.stage import check_images, predict

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (sections predict and launcher).")],
    checkpoint: Annotated[Path, typer.Option(help="Model checkpoint: train's, or a released WS-SAM one.")],
    manifest: Annotated[Path, typer.Option(help="Test-set manifest written by prepare.")],
    output: Annotated[Path, typer.Option(help="Prediction folder (replaced as a whole).")],
    quiet: Quiet = False,
) -> None:
    """Predict a test set with the trained network: one 8-bit map per image, at the image's original size."""
    config = load_section(PredictConfig, "predict", params)
    launcher = load_section(LauncherConfig, "launcher", params)
    if __name__ == "__main__":
        check_images(manifest)  # a missing file is one line from one process
        run_under_torchrun(launcher)
    summary = predict(checkpoint=checkpoint, manifest=manifest, output=output, config=config, show_progress=not quiet)
    if not summary["main"]:
        return
    print(f"predicted {summary['images']} images with {summary['model']} at {summary['image_size']} px; wrote {output}")


if __name__ == "__main__":
    app()
