"""Train the segmentation network on the kept images with their pseudo labels, entropy weights and scribbles.

Reads the usable rows of the training manifest and --scored-dir (selection.csv, labels/, weights/); holds out
train.val_fraction of the kept TRAINING images for checkpoint selection (validation against pseudo labels only).
Writes --output/model.pt (best epoch), --output/last.pt (resume point: an interrupted run continues from it when
params, data and code are unchanged; a finished run is trained again), dvclive logs in --log-dir and a summary to
--metrics. With launcher.nproc_per_node > 1 in params.yaml the script runs itself under torchrun and the processes
train one network with DistributedDataParallel (train.batch_size is the global batch; rank 0 writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import Quiet, figure, reports_input_errors
from wssam.config import load_section
from wssam.launcher import LauncherConfig, run_under_torchrun
from wssam.models.backbone import check_weights_file
from wssam.train.config import TrainConfig
from wssam.train.dataset import load_records
from wssam.train.layout import best_checkpoint, last_checkpoint
from wssam.train.stage import train

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (sections train and launcher).")],
    manifest: Annotated[Path, typer.Option(help="Training manifest written by prepare.")],
    scored_dir: Annotated[Path, typer.Option(help="Scored pseudo labels: selection.csv, labels/, weights/.")],
    output: Annotated[Path, typer.Option(help="Checkpoint folder (model.pt, last.pt).")],
    log_dir: Annotated[Path, typer.Option(help="dvclive log folder.")],
    metrics: Annotated[Path, typer.Option(help="Training summary JSON.")],
    quiet: Quiet = False,
) -> None:
    """Train the segmentation network on the kept images with their pseudo labels, entropy weights and scribbles."""
    config = load_section(TrainConfig, "train", params)
    launcher = load_section(LauncherConfig, "launcher", params)
    if __name__ == "__main__":  # a missing or wrong file is one line from one process
        check_weights_file(config.model.backbone_weights)
        load_records(manifest, scored_dir)
        run_under_torchrun(launcher)
    summary = train(
        config=config,
        manifest=manifest,
        scored_dir=scored_dir,
        output_dir=output,
        log_dir=log_dir,
        metrics_path=metrics,
        show_progress=not quiet,
        loader_workers=launcher.loader_workers,
        resume=launcher.resume,
    )
    if summary is None:  # one of the other processes under torchrun: rank 0 reports
        return
    print(
        f"trained {config.model.name}/{config.model.backbone} ({figure(summary['params_millions'])} M parameters) "
        f"for {summary['epochs']} epochs on {summary['train_images']} images ({summary['val_images']} held out) in "
        f"{figure(summary['seconds'])} s; best epoch {summary['best_epoch']}, val MAE {figure(summary['best_val_mae'])}"
    )
    print(f"wrote {best_checkpoint(output)}, {last_checkpoint(output)}, {log_dir} and {metrics}")


if __name__ == "__main__":
    app()
