"""``python -m wssam.models summary --model released --backbone resnet50 --size 384``: parameters per part and GFLOPs
per image of a network; the last line reads ``params_millions=<total> gflops=<per image>``."""

from __future__ import annotations

from typing import Annotated

import typer

from wssam.cli import reports_input_errors
from wssam.config import build_config
from wssam.io import InputError
from wssam.models.config import ModelConfig
from wssam.models.summary import format_summary, summarise

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def models() -> None:
    """The segmentation networks."""


@app.command()
@reports_input_errors
def summary(
    model: Annotated[str, typer.Option(help="wssam, baseline or released.")] = "wssam",
    backbone: Annotated[str, typer.Option(help="resnet18 or resnet50.")] = "resnet50",
    width: Annotated[int, typer.Option(help="Channels after the backbone (the paper: 128).")] = 128,
    grouping: Annotated[bool, typer.Option(help="With the multi-scale feature grouping (wssam, released).")] = True,
    size: Annotated[int, typer.Option(help="Input side in pixels, a multiple of 32.")] = 384,
) -> None:
    """Print parameters per part and GFLOPs per image of a network (random weights, one forward pass)."""
    fields = {"name": model, "backbone": backbone, "backbone_weights": "none", "width": width, "grouping": grouping}
    config = build_config(ModelConfig, fields, "model")
    try:
        parts = summarise(config, size)
    except ValueError as error:
        raise InputError(str(error)) from None
    for line in format_summary(parts):
        print(line)


if __name__ == "__main__":
    app(prog_name="python -m wssam.models")
