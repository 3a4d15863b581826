"""Write the run's report: one self-contained HTML page (parameters, pseudo-label statistics, every test set's metrics
beside the published WS-SAM numbers, curves, galleries) under --output, and its tables as Markdown in --summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.cli import reports_input_errors
from wssam.report.stage import report

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file (the report section, and the run's parameters).")],
    prepared: Annotated[Path, typer.Option(help="Prepared datasets written by prepare.")],
    views_dir: Annotated[Path, typer.Option(help="The view maps written by pseudo_label.")],
    scored_dir: Annotated[Path, typer.Option(help="The scored pseudo labels written by score.")],
    train_log: Annotated[Path, typer.Option(help="The dvclive log written by train.")],
    predictions: Annotated[Path, typer.Option(help="Folder of the test sets' prediction folders.")],
    evaluation: Annotated[Path, typer.Option(help="Folder of the per-image and per-threshold evaluation tables.")],
    test_metrics: Annotated[Path, typer.Option(help="Folder of the test sets' metrics JSON files.")],
    pseudo_label_metrics: Annotated[Path, typer.Option(help="Pseudo-label metrics JSON written by score.")],
    train_metrics: Annotated[Path, typer.Option(help="Training metrics JSON written by train.")],
    output: Annotated[Path, typer.Option(help="Report folder: index.html, plots/, galleries/.")],
    summary: Annotated[Path, typer.Option(help="Markdown summary file.")],
    pseudo_label_scores: Annotated[Path, typer.Option(help="Metrics JSON: the fused pseudo labels scored against GT.")],
) -> None:
    """Write the run's report page and its Markdown summary."""
    result = report(
        params=params, prepared=prepared, views_dir=views_dir, scored_dir=scored_dir, train_log=train_log,
        predictions=predictions, evaluation=evaluation, test_metrics=test_metrics,
        pseudo_label_metrics=pseudo_label_metrics, train_metrics=train_metrics, output=output, summary=summary,
        pseudo_label_scores=pseudo_label_scores,
    )  # fmt: skip
    print(f"report of {', '.join(result['test_sets'])} with {result['images']} figures: {output / 'index.html'}")
    print(f"wrote {summary}")


if __name__ == "__main__":
    app()
