"""Check the whole params file before any stage runs: every section, every key (first in dvc.yaml).

An unknown key (a typo such as score.taux), a missing key, a wrong type or an out-of-range value stops the
pipeline with one line naming it, even when the stages that read that section are up to date. Writes a small
marker file that the first stage depends on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wssam.check_params.stage import check_params
from wssam.cli import reports_input_errors

app = typer.Typer(add_completion=False)


@app.command()
@reports_input_errors
def main(
    params: Annotated[Path, typer.Option(help="Parameter file to check (every section).")],
    output: Annotated[Path, typer.Option(help="Marker file written when every section is valid.")],
) -> None:
    """Check the whole params file: every section, every key."""
    sections = check_params(params=params, output=output)
    print(f"{params}: {', '.join(sections)} valid")


if __name__ == "__main__":
    app()
