"""What the stage scripts print: a progress bar with rate and time left for every long loop, none with --quiet or
WSSAM_QUIET=1 (CI logs stay short), and figures rounded for people (``0.6909``, not ``0.6909060521311613``)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import typer
from recipe import stage_app, write_params
from sam_helpers import write_training_set
from test_score_stage import VIEWS, make_dataset
from typer.testing import CliRunner

from wssam.cli import figure, reports_input_errors
from wssam.staging import staged_outputs

LONG_DECIMAL = re.compile(r"\d\.\d{5,}")
#: tqdm's bar: "12/24 [00:01<00:01, 9.50img/s]": count, elapsed < time left, rate
BAR = re.compile(r"\d+/\d+ \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(img|batch)/s\]")


def _stages(tmp_path: Path) -> dict[str, list[str]]:
    """Arguments of three stages on tiny inputs (their long loops are per image)."""
    manifest = write_training_set(tmp_path / "train", count=3)
    scored_manifest, views_dir = make_dataset(tmp_path / "scoring", n_images=3)
    params = write_params(tmp_path / "params.yaml", pseudo_label={"views": list(VIEWS)}, score={"tau": 1.0})
    return {
        "pseudo_label": ["--params", str(params), "--manifest", str(manifest), "--view", "rot90", "--labeler-dir",
                         str(tmp_path), "--output", str(tmp_path / "views"), "--cache-dir", str(tmp_path / "cache")],
        "score": ["--params", str(params), "--manifest", str(scored_manifest), "--views-dir", str(views_dir),
                  "--output", str(tmp_path / "scored"), "--metrics", str(tmp_path / "m.json")],
        "evaluate": ["--pred-dir", str(views_dir / "rot90"), "--gt-dir", str(tmp_path / "scoring" / "GT"),
                     "--output", str(tmp_path / "e.json")],
    }  # fmt: skip


@pytest.mark.parametrize("stage", ["pseudo_label", "score", "evaluate"])
def test_progress_bars_unless_quiet_and_rounded_figures(tmp_path: Path, stage: str) -> None:
    arguments = _stages(tmp_path)[stage]
    loud = CliRunner().invoke(stage_app(stage), arguments, env={"WSSAM_QUIET": ""})
    assert loud.exit_code == 0, loud.stderr
    assert BAR.search(loud.stderr), loud.stderr
    assert not LONG_DECIMAL.search(loud.stdout), loud.stdout
    for quiet in ({"env": {"WSSAM_QUIET": "1"}}, {"args": ["--quiet"]}):
        done = CliRunner().invoke(stage_app(stage), arguments + quiet.get("args", []), env=quiet.get("env"))
        assert done.exit_code == 0, done.stderr
        assert done.stderr == "", done.stderr
        assert len(done.stdout.splitlines()) == len(loud.stdout.splitlines())


def test_figures_are_rounded_to_four_significant_digits() -> None:
    assert figure(0.6909060521311613) == "0.6909"
    assert figure(181.1134) == "181.1"
    assert figure(-0.44838839321597945, 3) == "-0.448"
    assert figure(None) == "n/a"


class OutOfMemoryError(RuntimeError):
    """Named as torch's (torch.OutOfMemoryError): the wrapper knows it by name, without importing torch."""


@pytest.mark.parametrize(
    "error", [MemoryError("Unable to allocate 412. GiB"), OutOfMemoryError("CUDA out of memory.\nmore"),
              RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")],
)  # fmt: skip
def test_running_out_of_memory_is_one_line_saying_what_to_lower(error: Exception) -> None:
    app = typer.Typer()

    @app.command()
    @reports_input_errors
    def main() -> None:
        raise error

    done = CliRunner().invoke(app, [])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out of memory (") and "max_side" in lines[0], done.stderr


def test_other_errors_keep_their_traceback() -> None:
    app = typer.Typer()

    @app.command()
    @reports_input_errors
    def main() -> None:
        raise RuntimeError("a bug")

    assert isinstance(CliRunner().invoke(app, []).exception, RuntimeError)


def test_a_second_sigterm_does_not_cut_short_the_cleanup_of_the_first() -> None:
    """Schedulers repeat SIGTERM; the temporaries the first one is removing must all go."""
    app = typer.Typer()
    cleaned: list[str] = []

    @app.command()
    @reports_input_errors
    def main() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises during the sleep
        finally:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
            cleaned.append("all")

    done = CliRunner().invoke(app, [])
    assert done.exit_code == 128 + signal.SIGTERM and cleaned == ["all"], done.stderr
    assert done.stderr.strip() == "stopped (SIGTERM): outputs left as they were, temporary files removed"


def test_a_stop_held_off_while_outputs_went_in_place_says_they_are_new(tmp_path) -> None:
    """A SIGTERM that arrives while a stage puts its outputs in place acts after them: the line says so."""
    app = typer.Typer()

    @app.command()
    @reports_input_errors
    def main() -> None:
        with staged_outputs(tmp_path / "maps") as staged:
            (staged[tmp_path / "maps"] / "new.txt").write_text("new")
            with staged.commit():
                os.kill(os.getpid(), signal.SIGTERM)
                (tmp_path / "metrics.json").write_text("new")
            time.sleep(5)  # the held SIGTERM acts before this ends

    done = CliRunner().invoke(app, [])
    assert done.exit_code == 128 + signal.SIGTERM, done.stderr
    assert done.stderr.strip() == "stopped (SIGTERM): all outputs new, temporary files removed"
    assert (tmp_path / "maps" / "new.txt").is_file() and (tmp_path / "metrics.json").is_file()
