"""Pseudo-label the training images in one augmentation view (one DVC stage per view).

For every usable image of the manifest: prompts from its sparse labels, the image and prompts moved into the
view, the labeler (random walker or SAM, per params.yaml) asked, and its probability map brought back to the
original frame, written as an 8-bit PNG <output>/<name>.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, figure, reports_input_errors
from wssam.config import load_section
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.sam_setup import reexec_with_allocator_tunables
from wssam.pseudo_label.stage import pseudo_label

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file; reads its pseudo_label section.")],
    manifest: Annotated[Path, typer.Option(help="Training manifest written by prepare.")],
    view: Annotated[str, typer.Option(help="View name, e.g. identity, hflip_rot90, scale0.5.")],
    labeler_dir: Annotated[Path, typer.Option(help="The labeler's own files (SAM: its checkpoint).")],
    output: Annotated[Path, typer.Option(help="Folder for the view's probability maps (replaced).")],
    quiet: Quiet = False,
) -> None:
    """Pseudo-label the usable training images in one augmentation view.

    Prompts come from each image's sparse labels (same points for every view); the image and prompts are moved
    into the view, the labeler of params.yaml (random_walker or sam) answers, and its probability map is brought
    back to the original frame and written as an 8-bit PNG OUTPUT/<name>.png. OUTPUT is replaced as a whole.
    """
    config = load_section(PseudoLabelConfig, "pseudo_label", params)
    if config.labeler == "sam" and __name__ == "__main__":
        reexec_with_allocator_tunables()  # SAM's encoder needs the allocator settings; glibc reads them at start
    summary = pseudo_label(
        manifest=manifest, view=view, labeler_dir=labeler_dir, output=output, config=config, progress=not quiet
    )
    rate = summary.images / summary.seconds if summary.seconds > 0 else float("inf")
    print(
        f"pseudo_label {summary.view}: {summary.images} maps with {config.labeler} in {summary.output} "
        f"({figure(summary.seconds, 3)} s, {figure(rate, 3)} images/s)"
    )


if __name__ == "__main__":
    app()
