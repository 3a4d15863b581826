"""Prepare the datasets: the training set (with scribbles or points) and every test set, as listed in params.yaml.

Each source is either `synthetic` (the embedded, seeded camouflage demo) or a dataset folder under data/raw with
Imgs/, GT/ and Scribble/ or Point/ (S-COD 0/1/2 maps). Missing sparse labels are simulated from GT. Writes
<output>/train/ and <output>/test/<set>/, each with its manifest.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, reports_input_errors
from wssam.config import load_section
from wssam.prepare.config import PrepareConfig
from wssam.prepare.stage import prepare

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file; its 'prepare' section is read.")],
    raw_dir: Annotated[Path, typer.Option(help="Folder of raw datasets that DVC tracks.")],
    output: Annotated[Path, typer.Option(help="Folder to write the prepared datasets into (replaced).")],
    quiet: Quiet = False,
) -> None:
    """Prepare the datasets: the training set (with scribbles or points) and every test set."""
    config = load_section(PrepareConfig, "prepare", params)
    for summary in prepare(config=config, raw_dir=raw_dir, output=output, show_progress=not quiet):
        sparse = f"{summary.sparse_kind} ({summary.sparse_source})" if summary.sparse_kind else "none"
        print(
            f"{summary.role} {summary.name}: {summary.images} images, {summary.usable} usable, "
            f"sparse labels {sparse}, source {summary.source}"
        )
        for line in summary.warnings:
            print(line)


if __name__ == "__main__":
    app()
