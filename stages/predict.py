"""Predict a test set with the trained network: one 8-bit map per image, at the image's original size.

The network and its input size come from --checkpoint alone (its stored training config). Each map is the sigmoid
of the final output, resized to the image's size and min-max normalised, written as --output/<name>.png; the
output folder is replaced whole at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import reports_input_errors
from wssam.config import load_section
from wssam.training.config import PredictConfig
from wssam.training.predict import predict_dataset

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (section predict).")] = Path("params.yaml"),
    checkpoint: Annotated[Path, typer.Option(help="Checkpoint written by train.")] = Path("data/model/model.pt"),
    manifest: Annotated[Path, typer.Option(help="Test-set manifest written by prepare.")] = Path(
        "data/prepared/test/demo_test/manifest.csv"
    ),
    output: Annotated[Path, typer.Option(help="Prediction folder (replaced as a whole).")] = Path(
        "data/predictions/demo_test"
    ),
) -> None:
    """Predict a test set with the trained network: one 8-bit map per image, at the image's original size."""
    config = load_section(PredictConfig, "predict", params)
    summary = predict_dataset(checkpoint=checkpoint, manifest=manifest, output=output, config=config)
    print(f"predicted {summary['images']} images with {summary['model']} at {summary['image_size']} px; wrote {output}")


if __name__ == "__main__":
    app()
