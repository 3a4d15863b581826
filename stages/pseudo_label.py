"""Pseudo-label the training images in one augmentation view (one DVC stage per view).

For every usable image of the manifest: prompts from its sparse labels, the image and prompts moved into the
view, the labeler (random walker or SAM, per params.yaml) asked, and its probability map brought back to the
original frame, written as an 8-bit PNG <output>/<name>.png. Maps already in the cache folder are copied, not
computed again; with launcher.nproc_per_node > 1 in params.yaml the script runs itself under torchrun and the
processes share the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, figure, reports_input_errors
from wssam.config import load_section
from wssam.launcher import LauncherConfig, run_under_torchrun
from wssam.prepare.manifest import read_manifest
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.labelers.sam_setup import reexec_with_allocator_tunables
from wssam.pseudo_label.stage import check_inputs, pseudo_label

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file; reads its pseudo_label and launcher sections.")],
    manifest: Annotated[Path, typer.Option(help="Training manifest written by prepare.")],
    view: Annotated[str, typer.Option(help="View name, e.g. identity, hflip_rot90, scale0.5.")],
    labeler_dir: Annotated[Path, typer.Option(help="The labeler's own files (SAM: its checkpoint).")],
    output: Annotated[Path, typer.Option(help="Folder for the view's probability maps (replaced).")],
    cache_dir: Annotated[Path, typer.Option(help="Per-image cache of maps (kept between runs; may be shared).")],
    quiet: Quiet = False,
) -> None:
    """Pseudo-label the usable training images in one augmentation view.

    Prompts come from each image's sparse labels (same points for every view); the image and prompts are moved
    into the view, the labeler of params.yaml (random_walker, sam or folder) answers, and its probability map is brought
    back to the original frame and written as an 8-bit PNG OUTPUT/<name>.png. OUTPUT is replaced as a whole; maps
    found in CACHE_DIR are copied instead of computed, and every computed map is added to it.
    """
    config = load_section(PseudoLabelConfig, "pseudo_label", params)
    launcher = load_section(LauncherConfig, "launcher", params)
    if __name__ == "__main__":
        if config.labeler == "sam":
            reexec_with_allocator_tunables()  # SAM's encoder needs the allocator settings; glibc reads them at start
        check_inputs(config, view, labeler_dir)
        read_manifest(manifest, usable_only=True)
        run_under_torchrun(launcher)  # a mistake above is one line from one process
    summary = pseudo_label(
        manifest=manifest, view=view, labeler_dir=labeler_dir, output=output, cache_dir=cache_dir, config=config,
        progress=not quiet,
    )  # fmt: skip
    if summary.main:
        print(
            f"pseudo_label {summary.view}: labelled={summary.labelled} reused={summary.reused} in "
            f"{figure(summary.seconds, 3)} s ({figure(summary.images_per_second, 3)} images/s); {summary.images} maps "
            f"with {config.labeler} in {summary.output}"
        )


if __name__ == "__main__":
    app()
